/** Opens a model file or Hugging Face folder, detecting its format from content, never from the name. */
import { statSync } from 'node:fs';
import { ModelFormatError } from '../errors.js';
import { BinaryFile } from './file.js';
import { GGUF_MAGIC, openGguf } from './gguf.js';
import { openLlama2c } from './llama2c.js';
import { isNative, openNative } from './native.js';
import { isHfFolder, openHfFolder } from './safetensors.js';
import type { ModelSource } from './source.js';

export function openModel(path: string): ModelSource {
  if (statSync(path, { throwIfNoEntry: false })?.isDirectory() && isHfFolder(path)) return openHfFolder(path);
  const file = BinaryFile.open(path, 'model');
  try {
    if (file.size < 8) {
      throw new ModelFormatError(`${path}: truncated: ${file.size} bytes is smaller than any model header`, 'the file is incomplete or not a model');
    }
    const magic = file.view(0, 4).getUint32(0, true);
    if (magic === GGUF_MAGIC) return openGguf(file);
    if (isNative(file)) return openNative(file);
    return openLlama2c(file);
  } catch (e) {
    file.close();
    throw e;
  }
}
