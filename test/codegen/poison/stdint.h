#error "retro engines are C89: <stdint.h> is not available on Borland C++ 5.02 / MSVC 6"
