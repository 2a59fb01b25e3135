/* micro.S: Cortex-M4 microbenchmarks for the cycle model (bench/m4cycles.py),
 * run by tests/unit/test_cycles.c. Each NAME_begin .. NAME_end is one region
 * the model costs; the test holds what the table of docs/performance.md
 * predicts for it. Every region is entered after a 32-bit nop, so its first
 * instruction neither pipelines, folds nor waits on what came before.
 * cycles_icount(k, fn) clears SysTick's count (which restarts its tick
 * phase), pads by exactly k + 3 instructions, then calls fn between two
 * reads of SysTick's current value; it returns the ticks. */
    .syntax unified
    .thumb
    .text

#define REGION(name) .global name##_begin; .global name##_end

    .global cycles_micro
    .type cycles_micro, %function
    .align 2
/* r0: a word-aligned scratch buffer of 64 bytes. */
cycles_micro:
    push {r4-r7, lr}
    vpush {s16-s17}
    movs r1, #0
    str r1, [r0]
    str r1, [r0, #4]
    vmov.f32 s0, #1.0
    vmov.f32 s1, #1.0
    vmov.f32 s2, #1.0
    vmov.f32 s3, #1.0
    vmov.f32 s4, #1.0
    vmov.f32 s5, #1.0
    mov r5, r0

    /* 8 VFMA, each adding into the last one's result: 3 cycles each */
    nop.w
REGION(vfma_chain)
vfma_chain_begin:
    vfma.f32 s0, s1, s2
    vfma.f32 s0, s1, s2
    vfma.f32 s0, s1, s2
    vfma.f32 s0, s1, s2
    vfma.f32 s0, s1, s2
    vfma.f32 s0, s1, s2
    vfma.f32 s0, s1, s2
    vfma.f32 s0, s1, s2
vfma_chain_end:
    /* a VFMA whose multiplicand is the VFMA's result before: 3 + 3 + 1 */
    nop.w
REGION(vfma_operand)
vfma_operand_begin:
    vfma.f32 s0, s1, s2
    vfma.f32 s3, s0, s2
vfma_operand_end:
    /* VMUL then a VADD of its product: 1 + (1 + 1), four times */
    nop.w
REGION(vmul_vadd)
vmul_vadd_begin:
    vmul.f32 s3, s1, s2
    vadd.f32 s0, s0, s3
    vmul.f32 s3, s1, s2
    vadd.f32 s0, s0, s3
    vmul.f32 s3, s1, s2
    vadd.f32 s0, s0, s3
    vmul.f32 s3, s1, s2
    vadd.f32 s0, s0, s3
vmul_vadd_end:
    /* two products, then their two sums: no result used next, 1 each */
    nop.w
REGION(vmul_vadd_interleaved)
vmul_vadd_interleaved_begin:
    vmul.f32 s3, s1, s2
    vmul.f32 s4, s1, s2
    vadd.f32 s0, s0, s3
    vadd.f32 s5, s5, s4
    vmul.f32 s3, s1, s2
    vmul.f32 s4, s1, s2
    vadd.f32 s0, s0, s3
    vadd.f32 s5, s5, s4
vmul_vadd_interleaved_end:
    /* an FP result stored next: VADD 1, VSTR 2 + 1 */
    nop.w
REGION(vadd_vstr)
vadd_vstr_begin:
    vadd.f32 s0, s1, s2
    vstr s0, [r5, #8]
vadd_vstr_end:
    /* four loads in a row: 2, then 1 each, pipelined */
    nop.w
REGION(ldr_pipelined)
ldr_pipelined_begin:
    ldr r1, [r5]
    ldr r2, [r5, #4]
    ldr r3, [r5, #8]
    ldr r4, [r5, #12]
ldr_pipelined_end:
    /* nothing pipelines after a store: STR imm 1, LDR 2 */
    nop.w
REGION(str_ldr)
str_ldr_begin:
    str r1, [r5, #16]
    ldr r2, [r5]
str_ldr_end:
    /* a load whose address the load before produced: 2, then 2 + 1 */
    nop.w
REGION(ldr_dependent)
ldr_dependent_begin:
    ldr r1, [r5]
    ldr r2, [r5, r1]
ldr_dependent_end:
    /* an ALU result as the next load's base: 1, then 2 + 1 */
    nop.w
REGION(alu_ldr)
alu_ldr_begin:
    adds r1, r5, #0
    ldr r2, [r1]
alu_ldr_end:
    /* LDRD 3; a load after it does not pipeline: 2; a register-offset
     * STR after a load pipelines: 1 */
    movs r4, #8
    nop.w
REGION(ldrd_str)
ldrd_str_begin:
    ldrd r2, r3, [r5]
    ldr r1, [r5, #4]
    str r2, [r5, r4]
ldrd_str_end:
    /* VLDM of 8 registers 1 + 8; VLDR 2, then 1 pipelined */
    nop.w
REGION(vldm)
vldm_begin:
    vldmia r5, {s8-s15}
    nop.w
    vldr s6, [r5]
    vldr s7, [r5, #4]
vldm_end:
    /* PUSH of 4: 1 + 4; a 32-bit nop 1; POP of 4: 1 + 4 */
    nop.w
REGION(push_pop)
push_pop_begin:
    push {r1-r4}
    nop.w
    pop {r1-r4}
push_pop_end:
    /* untaken conditional branch 1 (CMP 1 before it) */
    movs r1, #1
    nop.w
REGION(branch_untaken)
branch_untaken_begin:
    cmp r1, #1
    bne.n 9f
branch_untaken_end:
    nop.w
9:
    /* taken conditional branch to an aligned target: CMP 1, B 1 + 1, the target 1 */
    nop.w
REGION(branch_taken)
branch_taken_begin:
    cmp r1, #1
    beq.n 1f
    nop
    nop
    .align 2
1:  adds r2, r2, #1
branch_taken_end:
    /* taken unconditional branch to a 32-bit instruction at an odd halfword: 1 + 2, then 1 */
    nop.w
REGION(branch_unaligned)
branch_unaligned_begin:
    b.n 2f
    .align 2
    nop
2:  add.w r2, r2, #1
branch_unaligned_end:
    /* IT after a 16-bit CMP folds (0); after a 32-bit CMP it costs 1 */
    nop.w
REGION(it_fold)
it_fold_begin:
    cmp r1, #1
    it eq
    moveq r2, r3
    cmp.w r1, #1
    it eq
    moveq r2, r3
it_fold_end:
    /* SDIV: the worst case of 2-12, as the model charges */
    movs r1, #100
    movs r2, #7
    nop.w
REGION(sdiv)
sdiv_begin:
    sdiv r3, r1, r2
sdiv_end:
    /* 8 NOP.W over exactly two 16-byte fetch lines: 8 cycles, + 2 N
     * with N wait states per line (m4cycles.py --wait-states N) */
    nop.w
    .balign 16
REGION(fetch_lines)
fetch_lines_begin:
    nop.w
    nop.w
    nop.w
    nop.w
    nop.w
    nop.w
    nop.w
    nop.w
fetch_lines_end:
    nop.w
    vpop {s16-s17}
    pop {r4-r7, pc}
    .size cycles_micro, . - cycles_micro

    .global cycles_icount
    .type cycles_icount, %function
    .align 2
/* r0: padding k (0..39); r1: the function to time. */
cycles_icount:
    push {r4-r7, lr}
    ldr r4, =0xE000E018
    mov r5, r1
    str r4, [r4]        @ any write clears the count: the tick phase starts here
    lsrs r6, r0, #1
    bcc 1f
    nop
1:  cbz r6, 3f
2:  subs r6, #1
    bne 2b
3:
    .global icount_begin
icount_begin:
    ldr r6, [r4]
    blx r5
    .global icount_end
icount_end:
    ldr r7, [r4]
    subs r0, r6, r7
    ubfx r0, r0, #0, #24
    pop {r4-r7, pc}
    .size cycles_icount, . - cycles_icount
