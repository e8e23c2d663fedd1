// Our own kernels, written in the format of DeepMind's released AlphaDev kernels
// (sort_functions_test.cc: GCC inline asm in AT&T syntax, the array in `buffer`), for the tests
// of alphadev/inline_asm.py and `alphadev bench --alphadev`. Sort3Network and VarSort3Branchy are
// this project's human references (games/sort.py) spelt in AT&T syntax.

void Sort3Network(int* buffer) {
  asm volatile(
      "mov (%0), %%eax               \n"
      "mov 0x4(%0), %%ecx            \n"
      "mov 0x8(%0), %%edx            \n"
      "mov %%eax, %%esi              \n"
      "cmp %%ecx, %%eax              \n"
      "cmovg %%ecx, %%eax            \n"
      "cmovg %%esi, %%ecx            \n"
      "mov %%ecx, %%esi              \n"
      "cmp %%edx, %%ecx              \n"
      "cmovg %%edx, %%ecx            \n"
      "cmovg %%esi, %%edx            \n"
      "mov %%eax, %%esi              \n"
      "cmp %%ecx, %%eax              \n"
      "cmovg %%ecx, %%eax            \n"
      "cmovg %%esi, %%ecx            \n"
      "mov %%eax, (%0)               \n"
      "mov %%ecx, 0x4(%0)            \n"
      "mov %%edx, 0x8(%0)            \n"
      : "+r"(buffer)
      :
      : "eax", "ecx", "edx", "esi", "memory");
}

// The network without its last comparator: wrong whenever the smallest value comes last.
void Sort3Broken(int* buffer) {
  asm volatile(
      "mov (%0), %%eax               \n"
      "mov 0x4(%0), %%ecx            \n"
      "mov 0x8(%0), %%edx            \n"
      "mov %%eax, %%esi              \n"
      "cmp %%ecx, %%eax              \n"
      "cmovg %%ecx, %%eax            \n"
      "cmovg %%esi, %%ecx            \n"
      "mov %%ecx, %%esi              \n"
      "cmp %%edx, %%ecx              \n"
      "cmovg %%edx, %%ecx            \n"
      "cmovg %%esi, %%edx            \n"
      "mov %%eax, (%0)               \n"
      "mov %%ecx, 0x4(%0)            \n"
      "mov %%edx, 0x8(%0)            \n"
      : "+r"(buffer)
      :
      : "eax", "ecx", "edx", "esi", "memory");
}

// xchg is outside the subset.
void Sort3Exchange(int* buffer) {
  asm volatile(
      "mov (%0), %%eax               \n"
      "mov 0x4(%0), %%ecx            \n"
      "cmp %%ecx, %%eax              \n"
      "xchg %%eax, %%ecx             \n"
      : "+r"(buffer)
      :
      : "eax", "ecx", "memory");
}

void VarSort3Branchy(int* buffer) {
  asm volatile(
      "cmpl $0x2, (%0)               \n"
      "jl 1f                         \n"
      "mov 0x4(%0), %%eax            \n"
      "mov 0x8(%0), %%ecx            \n"
      "mov %%eax, %%edx              \n"
      "cmp %%ecx, %%eax              \n"
      "cmovg %%ecx, %%eax            \n"
      "cmovg %%edx, %%ecx            \n"
      "cmpl $0x3, (%0)               \n"
      "jl 0f                         \n"
      "mov 0xc(%0), %%esi            \n"
      "mov %%ecx, %%edx              \n"
      "cmp %%esi, %%ecx              \n"
      "cmovg %%esi, %%ecx            \n"
      "cmovg %%edx, %%esi            \n"
      "mov %%eax, %%edx              \n"
      "cmp %%ecx, %%eax              \n"
      "cmovg %%ecx, %%eax            \n"
      "cmovg %%edx, %%ecx            \n"
      "mov %%esi, 0xc(%0)            \n"
      "0:                            \n"
      "mov %%eax, 0x4(%0)            \n"
      "mov %%ecx, 0x8(%0)            \n"
      "1:                            \n"
      : "+r"(buffer)
      :
      : "eax", "ecx", "edx", "esi", "memory");
}
