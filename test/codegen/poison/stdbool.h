#error "retro engines are C89: <stdbool.h> is not available on Borland C++ 5.02 / MSVC 6"
