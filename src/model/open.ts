/** Opens a model file, detecting its format from content, never from the name. */
import { ModelFormatError } from '../errors.js';
import { BinaryFile } from './file.js';
import { GGUF_MAGIC, openGguf } from './gguf.js';
import { openLlama2c } from './llama2c.js';
import type { ModelSource } from './source.js';

export function openModel(path: string): ModelSource {
  const file = BinaryFile.open(path, 'model');
  try {
    if (file.size < 8) {
      throw new ModelFormatError(`${path}: truncated: ${file.size} bytes is smaller than any model header`, 'the file is incomplete or not a model');
    }
    const magic = file.view(0, 4).getUint32(0, true);
    return magic === GGUF_MAGIC ? openGguf(file) : openLlama2c(file);
  } catch (e) {
    file.close();
    throw e;
  }
}
