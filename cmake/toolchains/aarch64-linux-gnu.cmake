# Cross-build for 64-bit ARM (Raspberry Pi 4/5, Jetson, i.MX 8) with Debian's g++-aarch64-linux-gnu
# and the arm64 multiarch packages (libhwy-dev:arm64, libgtest-dev:arm64); tests run under
# qemu-user. scripts/test-arm64.sh installs all of it and runs the kernel and runtime suites.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
# `-cpu max` gives the emulated core every extension qemu knows (NEON, dot product, SVE), so
# Highway's dispatch and our dot-product int8 kernels see them. No -L: the binaries load the
# multiarch libc6:arm64 (/lib/ld-linux-aarch64.so.1) that they were linked against; mixing in the
# cross toolchain's own glibc copy (/usr/aarch64-linux-gnu) hangs at the first thread start.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-cpu;max)
