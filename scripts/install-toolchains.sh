#!/usr/bin/env bash
# Installs the Debian cross compilers, emulators and the SSH/FTP servers retro's tests use.
# Idempotent: only missing packages are installed. Needs root and apt.
set -euo pipefail
declare -A want=(
  [powerpc-linux-gnu-gcc]="gcc-powerpc-linux-gnu libc6-dev-powerpc-cross"
  [powerpc64-linux-gnu-gcc]="gcc-powerpc64-linux-gnu libc6-dev-ppc64-cross"
  [i686-linux-gnu-gcc]="gcc-i686-linux-gnu libc6-dev-i386-cross"
  [i686-w64-mingw32-gcc]="gcc-mingw-w64-i686"
  [qemu-ppc]="qemu-user"
  [tcc]="tcc"
  [clang]="clang"
  [wine]="wine wine32"
  [sshd]="openssh-server"
  [vsftpd]="vsftpd"
  [curl]="curl"
  [chromium]="chromium"
  [/usr/bin/time]="time"
)
# ProFTPD (with mod_digest: FTP HASH/XSHA256/XMD5/XCRC) conflicts with vsftpd as a Debian package
# (both provide ftp-server), so its files are unpacked beside it, not installed.
unpack_proftpd() {
  [ -x /opt/proftpd/usr/sbin/proftpd ] && return 0
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -q proftpd-core >/dev/null)
  apt-get install -y -q --no-install-recommends $(apt-cache depends proftpd-core | awk '/Depends:/ && $2 ~ /^lib/ {print $2}') >/dev/null
  dpkg -x "$tmp"/proftpd-core_*.deb /opt/proftpd
  rm -rf "$tmp"
}
missing=()
for cmd in "${!want[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=(${want[$cmd]})
done
# clang's sanitizer and libFuzzer runtimes (the engine fuzz test) come in their own package.
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || missing+=(libclang-rt-14-dev)
if [ ${#missing[@]} -eq 0 ]; then
  [ "$(id -u)" = 0 ] && unpack_proftpd
  echo "toolchains: all present"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "toolchains: missing packages ${missing[*]} and cannot install (needs root and apt-get)" >&2
  exit 1
fi
echo "toolchains: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if printf '%s\n' "${missing[@]}" | grep -q '^wine32$'; then
  dpkg --add-architecture i386
fi
apt-get update -q || echo "toolchains: apt-get update reported errors (mirror sync?); installing from the lists it has"
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null || apt-get install -y -q --no-install-recommends -t bookworm "${missing[@]}" >/dev/null
apt-get clean
unpack_proftpd
