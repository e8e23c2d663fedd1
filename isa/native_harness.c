/* Runs a kernel body on the host CPU, one input after another, for isa/native.py.
 *
 * The kernel runs single-stepped (the trap flag): before each instruction a SIGTRAP handler
 * records the path, enforces the step limit and checks the instruction's memory operand against
 * the exact data region [DATA_BASE, DATA_BASE + M), so native faults on the same byte
 * boundaries as the emulator and the JAX machine (page protection alone cannot tell a byte past
 * M from a byte inside the page). Real faults (SIGSEGV, SIGBUS, SIGILL) are caught too; each
 * fault ends only its own input.
 *
 * With single_step = 0 the kernel runs at full speed instead: no path, no step limit, no
 * bounds check beyond what page protection catches (for verifying inputs already checked).
 *
 * stdin:  header (8 x int64): n_instr, code_len, n_inputs, data_size, step_limit, check_memory,
 *         data_base, single_step; n_instr x Info (8 x int64); code bytes; n_inputs x (16 x uint64 registers,
 *         data_size bytes).
 * stdout: per input: 16 x uint64 registers, uint64 rflags, int64 executed, int64 fault_kind,
 *         int64 fault_index, int64 fault_signal, trace (executed x int64), data_size bytes.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

enum { FAULT_NONE = 0, FAULT_MEMORY = 1, FAULT_SIGNAL = 2, FAULT_STEPS = 3 };
typedef struct { int64_t offset, has_mem, base, index, scale, disp, size, pad; } Info;

/* Shared with the trampoline below: globals so that it can address them rip-relative. */
uint64_t h_regs[16];
uint64_t h_rflags;
uint64_t h_saved_rsp;
uint64_t h_entry_flags = 0x102; /* reserved bit 1 and TF: single-step from the first instruction */
void *h_code;

static Info *info;
static int64_t *index_of;           /* byte offset -> instruction index, -1 inside one */
static int64_t n_instr, code_len, data_size, step_limit, check_memory, data_base;
static int64_t *trace, n_trace, fault_kind, fault_index, fault_signal;
static sigjmp_buf resume;
static const int GREG[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
                             REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15};

void run_kernel(void);
extern char run_kernel_return[];
__asm__(
    ".intel_syntax noprefix\n"
    ".text\n"
    ".globl run_kernel\n"
    "run_kernel:\n"
    "  push rbx\n  push rbp\n  push r12\n  push r13\n  push r14\n  push r15\n"
    "  mov [rip + h_saved_rsp], rsp\n"
    "  lea rax, [rip + h_regs]\n"
    "  mov rcx, [rax + 8]\n  mov rdx, [rax + 16]\n  mov rbx, [rax + 24]\n"
    "  mov rbp, [rax + 40]\n  mov rsi, [rax + 48]\n  mov rdi, [rax + 56]\n"
    "  mov r8, [rax + 64]\n  mov r9, [rax + 72]\n  mov r10, [rax + 80]\n  mov r11, [rax + 88]\n"
    "  mov r12, [rax + 96]\n  mov r13, [rax + 104]\n  mov r14, [rax + 112]\n  mov r15, [rax + 120]\n"
    "  mov rax, [rax]\n"
    "  push qword ptr [rip + h_entry_flags]\n"
    "  popfq\n"                               /* TF set: the trap comes after the call below */
    "  call qword ptr [rip + h_code]\n"
    ".globl run_kernel_return\n"
    "run_kernel_return:\n"
    "  mov [rip + h_regs], rax\n"
    "  mov [rip + h_regs + 8], rcx\n  mov [rip + h_regs + 16], rdx\n  mov [rip + h_regs + 24], rbx\n"
    "  mov [rip + h_regs + 40], rbp\n  mov [rip + h_regs + 48], rsi\n  mov [rip + h_regs + 56], rdi\n"
    "  mov [rip + h_regs + 64], r8\n  mov [rip + h_regs + 72], r9\n  mov [rip + h_regs + 80], r10\n"
    "  mov [rip + h_regs + 88], r11\n  mov [rip + h_regs + 96], r12\n  mov [rip + h_regs + 104], r13\n"
    "  mov [rip + h_regs + 112], r14\n  mov [rip + h_regs + 120], r15\n"
    "  pushfq\n  pop rax\n  mov [rip + h_rflags], rax\n"
    "  mov rsp, [rip + h_saved_rsp]\n"
    "  pop r15\n  pop r14\n  pop r13\n  pop r12\n  pop rbp\n  pop rbx\n"
    "  ret\n"
    ".att_syntax prefix\n");

static void keep_registers(greg_t *g) {
  for (int r = 0; r < 16; r++) h_regs[r] = (uint64_t)g[GREG[r]];
  h_rflags = (uint64_t)g[REG_EFL];
}

static void stop(int kind, int64_t index, greg_t *g) {
  fault_kind = kind;
  fault_index = index;
  keep_registers(g);
  siglongjmp(resume, 1);
}

static void on_trap(int sig, siginfo_t *si, void *ctx) {
  (void)sig; (void)si;
  greg_t *g = ((ucontext_t *)ctx)->uc_mcontext.gregs;
  uint64_t rip = (uint64_t)g[REG_RIP], start = (uint64_t)h_code;
  if (rip == (uint64_t)run_kernel_return) { /* back in the trampoline: stop stepping */
    g[REG_EFL] &= ~0x100;
    return;
  }
  if (rip < start || rip > start + (uint64_t)code_len) return; /* the call itself */
  if (rip == start + (uint64_t)code_len) return; /* at the appended ret */
  int64_t i = index_of[rip - start];
  if (n_trace >= step_limit) stop(FAULT_STEPS, i, g);
  trace[n_trace++] = i;
  if (check_memory && info[i].has_mem) {
    uint64_t ea = (uint64_t)g[GREG[info[i].base]] + (uint64_t)info[i].disp;
    if (info[i].index >= 0) ea += (uint64_t)g[GREG[info[i].index]] * (uint64_t)info[i].scale;
    uint64_t off = ea - (uint64_t)data_base;
    if (off > (uint64_t)data_size || (uint64_t)data_size - off < (uint64_t)info[i].size)
      stop(FAULT_MEMORY, i, g);
  }
}

static void on_fault(int sig, siginfo_t *si, void *ctx) {
  (void)si;
  fault_signal = sig;
  stop(FAULT_SIGNAL, n_trace ? trace[n_trace - 1] : -1, ((ucontext_t *)ctx)->uc_mcontext.gregs);
}

static void read_exact(void *p, size_t n) {
  if (n && fread(p, 1, n, stdin) != n) { fprintf(stderr, "native harness: short input\n"); exit(2); }
}

static void write_all(const void *p, size_t n) {
  if (n && fwrite(p, 1, n, stdout) != n) exit(3);
}

int main(void) {
  int64_t header[8];
  read_exact(header, sizeof header);
  n_instr = header[0]; code_len = header[1];
  int64_t n_inputs = header[2];
  data_size = header[3]; step_limit = header[4]; check_memory = header[5]; data_base = header[6];
  if (!header[7]) h_entry_flags = 0x2; /* no trap flag: full speed */

  info = calloc(n_instr + 1, sizeof *info);
  index_of = malloc((code_len + 1) * sizeof *index_of);
  trace = malloc((step_limit + 1) * sizeof *trace);
  read_exact(info, n_instr * sizeof *info);
  for (int64_t b = 0; b <= code_len; b++) index_of[b] = -1;
  for (int64_t i = 0; i < n_instr; i++) index_of[info[i].offset] = i;

  size_t code_map = (size_t)(code_len + 1 + 4095) & ~(size_t)4095;
  unsigned char *code = mmap(NULL, code_map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  read_exact(code, code_len);
  code[code_len] = 0xc3; /* ret */
  mprotect(code, code_map, PROT_READ | PROT_EXEC);
  h_code = code;

  size_t data_map = (size_t)(data_size + 4095) & ~(size_t)4095;
  unsigned char *data = mmap((void *)data_base, data_map, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (data != (void *)data_base) { fprintf(stderr, "native harness: cannot map the data region\n"); return 4; }

  static char altstack[1 << 16];
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
  sigaltstack(&ss, NULL);
  struct sigaction sa = {0};
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sa.sa_sigaction = on_trap;
  sigaction(SIGTRAP, &sa, NULL);
  sa.sa_sigaction = on_fault;
  sa.sa_flags |= SA_NODEFER;
  int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE};
  for (int s = 0; s < 4; s++) sigaction(fatal[s], &sa, NULL);

  for (int64_t k = 0; k < n_inputs; k++) {
    read_exact(h_regs, sizeof h_regs);
    read_exact(data, data_size);
    n_trace = fault_kind = fault_signal = 0;
    fault_index = -1;
    if (sigsetjmp(resume, 1) == 0) run_kernel();
    int64_t tail[4] = {n_trace, fault_kind, fault_index, fault_signal};
    write_all(h_regs, sizeof h_regs);
    write_all(&h_rflags, sizeof h_rflags);
    write_all(tail, sizeof tail);
    write_all(trace, n_trace * sizeof *trace);
    write_all(data, data_size);
    fflush(stdout); /* what was written survives a harness that dies on a later input */
  }
  return 0;
}
