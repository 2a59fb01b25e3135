#!/usr/bin/python3
"""m4cycles.py: Cortex-M4 cycles of a firmware region, modelled from qemu's trace.

usage: m4cycles.py ELF [--function SYM | --start ADDR --end ADDR] [--wait-states N]
                   [--line BYTES] [--functions] [--mnemonics] [--json]

Runs ELF on qemu-system-arm -M mps2-an386 -icount shift=0 with the
execution log (-d in_asm,exec,nochain): every translated block (TB) is
logged once with its disassembly, every execution of a TB as one "Trace"
line, so the executed instruction stream is the concatenation of the
traced TBs (cut where qemu rewound a TB for an I/O access, dropped where
it stopped before running one). Each instruction of the stream is costed
with the Cortex-M4 r0p1 TRM's timings (docs/performance.md, "Cycle
model", has the table and what is assumed). The region counted is one
call of --function (from its first instruction until the return address
of the call that entered it) or every stretch from --start up to, not
including, --end. Self cycles and instructions per function symbol (the
ELF's, by address range) with --functions.

As a module: measure(elf, ...) returns the same figures as a dict.
"""

import bisect
import json
import os
import re
import subprocess
import sys
import tempfile

QEMU = ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-semihosting", "-icount", "shift=0"]
NM = "arm-none-eabi-nm"
OBJDUMP = "arm-none-eabi-objdump"

# Kinds of instruction, by how the model costs them.
(ALU, DIV, BRANCH, IT, TBB, LOAD, STORE, LDRD, STRD, LDM, STM,
 VLDR, VSTR, VLDM, VSTM, FP1, FPMAC, FPDIV, FPMOV, VMOVC, NOP) = range(21)
MEMORY = {LOAD, STORE, LDRD, STRD, LDM, STM, VLDR, VSTR, VLDM, VSTM, TBB}
SINGLE_LOAD = {LOAD, VLDR}  # loads a following single load or store pipelines behind

# SDIV/UDIV take 2 to 12 cycles by the operands' magnitudes, which the
# trace does not carry: the model charges the worst case.
DIV_CYCLES = 12

CONDS = {"eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al"}
REG_ALIAS = {"sb": "r9", "sl": "r10", "fp": "r11", "ip": "r12", "sp": "r13", "lr": "r14", "pc": "r15"}

# Base mnemonics by kind (condition suffixes and .w/.n/.f32 stripped).
KIND = {}
for _m in ("b bl blx bx cbz cbnz").split():
    KIND[_m] = BRANCH
for _m in ("ldr ldrb ldrh ldrsb ldrsh ldrt ldrbt ldrht ldrsbt ldrsht ldrex ldrexb ldrexh").split():
    KIND[_m] = LOAD
for _m in ("str strb strh strt strbt strht strex strexb strexh").split():
    KIND[_m] = STORE
for _m in ("ldm ldmia ldmfd ldmdb ldmea pop").split():
    KIND[_m] = LDM
for _m in ("stm stmia stmea stmdb stmfd push").split():
    KIND[_m] = STM
for _m in ("vldmia vldmdb vldm vpop").split():
    KIND[_m] = VLDM
for _m in ("vstmia vstmdb vstm vpush").split():
    KIND[_m] = VSTM
for _m in ("vmla vmls vnmla vnmls vfma vfms vfnma vfnms").split():
    KIND[_m] = FPMAC
for _m in ("vadd vsub vmul vnmul vabs vneg vcvt vcvtr").split():
    KIND[_m] = FP1
KIND.update({"ldrd": LDRD, "strd": STRD, "vldr": VLDR, "vstr": VSTR, "vdiv": FPDIV, "vsqrt": FPDIV,
             "sdiv": DIV, "udiv": DIV, "it": IT, "tbb": TBB, "tbh": TBB,
             "nop": NOP, "vmov": FPMOV, "vcmp": FPMOV, "vcmpe": FPMOV, "vmrs": FPMOV, "vmsr": FPMOV})
# Instructions that write no register named in their first operand.
NO_DEST = set("cmp cmn tst teq it b bx cbz cbnz tbb tbh nop bkpt svc dsb dmb isb cpsid cpsie wfi wfe sev "
              "vcmp vcmpe vmsr pld pli".split())
# Instructions writing their first two operands (long multiplies).
TWO_DEST = set("umull smull umlal smlal umaal smlald smlsld smlalbb smlalbt smlaltb smlaltt".split())


ALU_NAMES = set("""mov movs mvn mvns movw movt add adds addw adc adcs sub subs subw sbc sbcs rsb rsbs
and ands orr orrs orn orns eor eors bic bics lsl lsls lsr lsrs asr asrs ror rors rrx rrxs mul muls mla mls
sxtb sxth uxtb uxth sxtab sxtah uxtab uxtah sxtb16 uxtb16 sxtab16 uxtab16 clz rbit rev rev16 revsh bfi bfc
ubfx sbfx ssat usat ssat16 usat16 sel qadd qsub qdadd qdsub qadd8 qadd16 qsub8 qsub16 qasx qsax sadd8 sadd16
ssub8 ssub16 sasx ssax uadd8 uadd16 usub8 usub16 uasx usax shadd8 shadd16 shsub8 shsub16 uhadd8 uhadd16
uhsub8 uhsub16 uqadd8 uqadd16 uqsub8 uqsub16 smlad smladx smlsd smlsdx smuad smuadx smusd smusdx smlabb smlabt
smlatb smlatt smlawb smlawt smulbb smulbt smultb smultt smulwb smulwt smmul smmulr smmla smmlar smmls smmlsr
pkhbt pkhtb usad8 usada8 adr mrs msr cpsid cpsie bkpt svc wfi wfe sev dmb dsb isb pld pli
ite itt itee itet itte ittt iteee iteet itete itett ittee ittet ittte itttt""".split())
for _m in ALU_NAMES:
    if _m.startswith("it"):
        KIND[_m] = IT
KNOWN = set(KIND) | NO_DEST | TWO_DEST | ALU_NAMES


def base_mnemonic(m):
    """The mnemonic without width/type suffix and condition: 'vmovle.f32' ->
    ('vmov', True), 'bne.w' -> ('b', True), 'movs' -> ('movs', False)."""
    m = m.split(".", 1)[0]
    if m in KNOWN:
        return m, False
    if len(m) > 2 and m[-2:] in CONDS and m[:-2] in KNOWN:
        return m[:-2], True
    return m, False


def reg_names(text):
    """The registers a piece of operand text names, normalised: r0..r15,
    s0..s31 (a d register is its two s halves); ranges expanded."""
    out = []
    for tok in re.findall(r"\b([rsd]\d+(?:\s*-\s*[rsd]\d+)?|sb|sl|fp|ip|sp|lr|pc)\b", text):
        if "-" in tok:
            a, b = [t.strip() for t in tok.split("-")]
            for i in range(int(a[1:]), int(b[1:]) + 1):
                out.extend(reg_names(a[0] + str(i)))
        elif tok in REG_ALIAS:
            out.append(REG_ALIAS[tok])
        elif tok[0] == "d":
            n = int(tok[1:])
            out += ["s%d" % (2 * n), "s%d" % (2 * n + 1)]
        else:
            out.append(tok)
    return out


def split_operands(ops):
    """Top-level comma-separated operands ({...} and [...] kept whole)."""
    parts, depth, cur = [], 0, ""
    for ch in ops:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


class Insn:
    """One decoded instruction: what the cost model needs of it."""
    __slots__ = ("addr", "size", "text", "base", "kind", "cond", "cost", "writes", "reads", "areg",
                 "loads_pc", "fp_result", "pipelines", "func", "line")

    def __init__(self, addr, size, mnem, ops):
        self.addr, self.size, self.text = addr, size, (mnem + " " + ops).strip()
        self.func = self.line = None
        b, cond = base_mnemonic(mnem)
        self.base, self.cond = b, cond
        k = KIND.get(b, ALU)
        parts = split_operands(ops)
        regs0 = reg_names(parts[0]) if parts else []
        writes, reads, areg = set(), set(), set()
        brackets = re.findall(r"\[([^\]]*)\]", ops)
        if brackets:
            areg = set(reg_names(brackets[0])) - {"r15"}
        wb = "!" in ops or bool(re.search(r"\]\s*,", ops))  # pre-index "!" or post-index
        nregs = 0
        if k in (LDM, STM, VLDM, VSTM):
            lst = re.search(r"\{([^}]*)\}", ops)
            lregs = reg_names(lst.group(1)) if lst else []
            nregs = len(lregs)
            if b in ("pop", "push", "vpop", "vpush"):
                areg = {"r13"}
                writes.add("r13")
            else:
                areg = set(regs0)
                if "!" in parts[0]:
                    writes.update(regs0)
            if k in (LDM, VLDM):
                writes.update(lregs)
            else:
                reads.update(lregs)
        elif k in (LOAD, VLDR, LDRD):
            writes.update(regs0 if k != LDRD else reg_names(parts[0]) + reg_names(parts[1]))
            if wb:
                writes.update(areg)
        elif k in (STORE, VSTR, STRD):
            reads.update(regs0 if k != STRD else reg_names(parts[0]) + reg_names(parts[1]))
            if wb:
                writes.update(areg)
        elif k == TBB:
            pass
        elif b in TWO_DEST or (b == "vmov" and len(parts) >= 3 and
                                all(r[0] == "r" for r in reg_names(parts[0]) + reg_names(parts[1]))):
            writes.update(reg_names(parts[0]) + reg_names(parts[1]))
            for p in parts[2:]:
                reads.update(reg_names(p))
            if b in TWO_DEST and b not in ("umull", "smull"):
                reads.update(writes)
        elif b in NO_DEST or k == BRANCH:
            for p in parts:
                reads.update(reg_names(p))
            if b in ("bl", "blx"):
                writes.add("r14")
        elif k == FPMAC:
            writes.update(regs0)
            for p in parts[1:]:
                reads.update(reg_names(p))  # the addend (parts[0]) is exempt from the stall
        else:
            writes.update(regs0)
            for p in parts[1:]:
                reads.update(reg_names(p))
        if b == "vmrs" and parts and parts[0].lower().startswith("apsr"):
            writes.clear()
        self.loads_pc = "r15" in writes and k != BRANCH
        self.writes = frozenset(writes)
        self.reads = frozenset(r for r in reads if r[0] == "s")  # FP registers read (the stall rule)
        self.areg = frozenset(areg)
        self.fp_result = k in (FP1, FPMAC, FPDIV)
        # a following single load or store pipelines behind a single load
        self.pipelines = k in SINGLE_LOAD and not self.loads_pc
        # the cost that needs no neighbours
        if k in (ALU, NOP, FP1, FPMOV):
            c = 1
            if b == "vmov" and len(parts) >= 3:
                c = 2  # two core registers <-> two singles or a double
        elif k == DIV:
            c = DIV_CYCLES
        elif k == FPMAC:
            c = 3
        elif k == FPDIV:
            c = 14
        elif k in (LOAD, VLDR, VSTR):
            c = 2
        elif k == STORE:
            # STR with an immediate offset is always 1; with a register offset 2
            c = 1 if not re.search(r"\[[^\]]*,\s*[rsfil][0-9abpl]", ops) else 2
        elif k in (LDRD, STRD):
            c = 3
        elif k in (LDM, STM, VLDM, VSTM):
            c = 1 + nregs
        elif k == TBB:
            c = 2
        else:  # BRANCH, IT: decided with the neighbours
            c = 1
        if b == "vmov" and k == FPMOV and len(parts) == 2 and ("r" in (regs0 or ["s"])[0][0]
                                                                 or reg_names(parts[1])[:1] == ["r"]):
            c = 1  # one core register <-> one single
        self.kind, self.cost = k, c


def parse_log(path, on_tb):
    """Replays qemu's in_asm,exec,nochain log: calls on_tb(list of Insn)
    for every executed TB in order, with the part qemu really ran."""
    tbs = {}          # host code pointer -> list of Insn
    pending = None    # the last translated TB, waiting for its first Trace line
    cur_in = None
    last = None       # the TB executed last, held back: qemu may cut or void it
    decoded = {}
    insn_re = re.compile(r"^0x([0-9a-f]+):\s+((?:[0-9a-f]{4} )?[0-9a-f]{4})\s+(\S+)\s*(.*)$")
    with open(path, "r", errors="replace") as f:
        for line in f:
            c = line[0] if line else ""
            if c == "0" and cur_in is not None:
                m = insn_re.match(line)
                if m:
                    addr = int(m.group(1), 16)
                    ins = decoded.get(addr)
                    if ins is None or ins.text != (m.group(3) + " " + m.group(4).strip()).strip():
                        ins = Insn(addr, 4 if " " in m.group(2) else 2, m.group(3), m.group(4).strip())
                        decoded[addr] = ins
                    cur_in.append(ins)
                    continue
            if line.startswith("IN:"):
                cur_in = []
                pending = cur_in
                continue
            if c == "T" and line.startswith("Trace "):
                cur_in = None
                parts = line.split()
                ptr = parts[2]
                pc = int(parts[3].strip("[").split("/")[1], 16)
                if pending is not None and pending and pending[0].addr == pc:
                    tbs[ptr] = pending
                    pending = None
                tb = tbs.get(ptr)
                if tb is None or tb[0].addr != pc:
                    raise RuntimeError("qemu log: executed TB %s at 0x%x was never translated" % (ptr, pc))
                if last is not None:
                    on_tb(last)
                last = tb
                continue
            cur_in = None if c not in ("0", "-") else cur_in
            if line.startswith("Stopped execution of TB chain before"):
                m = re.search(r"before (\S+) \[([0-9a-f]+)\]", line)
                if last is not None and m and last[0].addr == int(m.group(2), 16):
                    last = None
            elif line.startswith("cpu_io_recompile: rewound execution of TB to"):
                at = int(line.split()[-1], 16)
                if last is not None:
                    cut = [i for i in last if i.addr < at] if any(i.addr == at for i in last) else last
                    last = cut
    if last:
        on_tb(last)
    return decoded


class Model:
    """Costs a stream of instructions; the state between TBs lives here."""

    def __init__(self, bounds=None, function=None, wait_states=0, line=16, symbols=(), lines=None):
        self.bounds = bounds or {}  # start address -> (end address, region name)
        self.function = function
        self.ws, self.line = wait_states, line
        self.symbols = sorted(symbols)
        self.sym_addrs = [s[0] for s in self.symbols]
        self.lines = lines      # (addresses, function names) from the line table, or None
        self.prev = None        # the instruction before cur
        self.cur = None         # the instruction waiting for its successor to be costed
        self.cur_region = None  # the region cur lies in, if any
        self.region = None      # the region open after cur
        self.stop_at = None
        self.regions = []       # [instructions, cycles, name] per region
        self.by_func = {}       # function -> [instructions, cycles]
        self.by_mnem = {}       # base mnemonic -> [instructions, cycles]
        self.fetch_line = None
        self.total_instructions = 0
        self.annotate = 0       # how many more costed instructions to list
        self.listing = []       # (address, text, cycles) of the first ones
        self.by_line = {} if lines else None  # source line -> [instructions, cycles]

    def func_of(self, ins):
        """The function symbol whose range holds ins (cached on it)."""
        if ins.func is None and self.lines:
            i = bisect.bisect_right(self.lines[0], ins.addr) - 1
            if i >= 0:
                ins.line = self.lines[2][i]
                ins.func = self.lines[1][i]
        if ins.func is None:
            i = bisect.bisect_right(self.sym_addrs, ins.addr) - 1
            name = "?"
            if i >= 0:
                a, size, n = self.symbols[i]
                if ins.addr < a + size:
                    name = n
            ins.func = name
        return ins.func

    def cost(self, p, c, n):
        """Cycles of c, preceded by p and followed by n (None at the ends)."""
        k = c.kind
        cy = c.cost
        if k in MEMORY:
            dep = p is not None and bool(c.areg & p.writes)
            if dep:
                cy += 1  # address generation waits for the register written just before
            elif p is not None and p.pipelines and (k in (LOAD, VLDR, VSTR) or (k == STORE and cy == 2)):
                cy -= 1  # pipelined behind the single load before
        if p is not None and p.fp_result and c.reads and (c.reads & p.writes):
            cy += 1  # the FPU result is not forwarded yet (an accumulate's addend is exempt)
        if k == IT and p is not None and p.size == 2:
            cy = 0  # folded onto the 16-bit instruction before
        if n is not None and n.addr != c.addr + c.size and (k == BRANCH or k == TBB or "r15" in c.writes):
            cy += 2 if (n.size == 4 and n.addr & 2) else 1  # pipeline refill
        if self.ws:
            ln = c.addr // self.line
            if ln != self.fetch_line:
                cy += self.ws
                self.fetch_line = ln
        return cy

    def feed(self, tb):
        """One executed TB (a list of Insn)."""
        for n in tb:
            c = self.cur
            if c is not None:
                if self.cur_region is not None:
                    self.account(self.cur_region, c, self.cost(self.prev, c, n))
                elif self.ws:
                    self.fetch_line = c.addr // self.line
                self.prev = c
            # does n close or open the region?
            if self.region is not None and n.addr == self.stop_at:
                self.region = None
            if self.region is None:
                if self.function is not None and n.addr == self.function and c is not None:
                    self.stop_at = c.addr + c.size  # the return address of the call
                    self.region = [0, 0, None]
                elif n.addr in self.bounds:
                    self.stop_at, name = self.bounds[n.addr]
                    self.region = [0, 0, name]
                if self.region is not None:
                    self.regions.append(self.region)
            self.cur, self.cur_region = n, self.region
        self.total_instructions += len(tb)

    def account(self, r, c, cy):
        """Adds c's cycles to region r and to c's function and mnemonic."""
        if self.annotate:
            self.annotate -= 1
            self.listing.append((c.addr, c.text, cy))
        r[0] += 1
        r[1] += cy
        f = self.by_func.get(c.func)
        if f is None:
            self.func_of(c)
            f = self.by_func.setdefault(c.func, [0, 0])
        f[0] += 1
        f[1] += cy
        if self.by_line is not None and c.line is not None:
            ln = self.by_line.setdefault(c.line, [0, 0])
            ln[0] += 1
            ln[1] += cy
        m = self.by_mnem.get(c.base)
        if m is None:
            m = self.by_mnem[c.base] = [0, 0]
        m[0] += 1
        m[1] += cy

    def finish(self):
        """Costs the last instruction."""
        if self.cur is not None and self.cur_region is not None:
            self.account(self.cur_region, self.cur, self.cost(self.prev, self.cur, None))


def symbols(elf):
    """(address, size, name) of the ELF's code and data symbols (size 0
    for labels without one)."""
    out = subprocess.run([NM, "-S", "--defined-only", elf], stdout=subprocess.PIPE, universal_newlines=True,
                         check=True).stdout
    syms = []
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4 and f[2] in "tTwW":
            syms.append((int(f[0], 16) & ~1, int(f[1], 16), f[3]))
        elif len(f) == 3 and f[1] in "tT":
            syms.append((int(f[0], 16) & ~1, 0, f[2]))
    return sorted(syms)


def source_functions(elf, c_file):
    """For attributing code to the functions of c_file even where gcc
    inlined them (a generated model's layers): from the ELF's DWARF line
    table (build with -g, which changes no code), sorted addresses and,
    for each, the c_file function its line lies in, or None for code of
    other files (attributed by symbol then), and that line."""
    starts = []
    with open(c_file) as f:
        src = f.read().split("\n")
    for i, text in enumerate(src):
        m = re.match(r"^[A-Za-z_][\w \*]*?\b(\w+)\(.*\)\s*$", text)
        if m and i + 1 < len(src) and src[i + 1].startswith("{"):
            starts.append((i + 1, m.group(1)))
    out = subprocess.run([OBJDUMP, "--dwarf=decodedline", elf], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    base = os.path.basename(c_file)
    entries = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 3 and f[2].startswith("0x") and f[1].isdigit():
            entries[int(f[2], 16)] = (f[0], int(f[1]))
    lines = [s_[0] for s_ in starts]
    addrs, names, linenos = [], [], []
    for a in sorted(entries):
        fname, ln = entries[a]
        name = None
        if fname == base:
            i = bisect.bisect_right(lines, ln) - 1
            name = starts[i][1] if i >= 0 else None
        addrs.append(a)
        names.append(name)
        linenos.append(ln if name else "%s:%d" % (fname, ln))  # other files' lines as FILE:LINE
    return addrs, names, linenos


def address_of(syms, name):
    """A symbol's address, or an int given as text."""
    for a, _, n in syms:
        if n == name:
            return a
    try:
        return int(name, 0)
    except ValueError:
        raise RuntimeError("no symbol %s in the ELF" % name)


def measure(elf, function=None, regions=(), wait_states=0, line=16, timeout=900, log=None, annotate=0,
            source=None):
    """Runs elf under qemu and models the region; returns a dict:
    instructions, cycles (of all regions), regions ([instructions, cycles]
    each), by_region {name: {instructions, cycles, count}} for the named
    regions (NAME_begin up to NAME_end), functions {name: {instructions,
    cycles}} (self figures; with source, a C file of the ELF built with -g,
    that file's functions count apart even when inlined), lines {line: ...}
    (with source: that file's lines by number, other files' as "FILE:LINE"), mnemonics (likewise),
    console (the firmware's output) and total_instructions (the whole run)."""
    syms = symbols(elf)
    fn = address_of(syms, function) if function else None
    bounds = {}
    for r in regions:
        s, e = (r, None) if isinstance(r, str) else r
        if e is None:
            s, e = s + "_begin", s + "_end"
        bounds[address_of(syms, s)] = (address_of(syms, e), r if isinstance(r, str) else s)
    own = log is None
    if own:
        fd, log = tempfile.mkstemp(prefix="m4cycles_", suffix=".log")
        os.close(fd)
    try:
        p = subprocess.run(QEMU + ["-kernel", elf, "-d", "in_asm,exec,nochain", "-D", log],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                           timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError("qemu failed (%d) on %s:\n%s" % (p.returncode, elf, p.stdout))
        m = Model(bounds=bounds, function=fn, wait_states=wait_states, line=line,
                  symbols=[s for s in syms if s[1] > 0], lines=source_functions(elf, source) if source else None)
        m.annotate = annotate
        decoded = parse_log(log, m.feed)
        m.finish()
    finally:
        if own:
            os.unlink(log)
    by_region = {}
    for n_, c_, name in m.regions:
        if name is not None:
            r = by_region.setdefault(name, {"instructions": 0, "cycles": 0, "count": 0})
            r["instructions"] += n_
            r["cycles"] += c_
            r["count"] += 1
    return {"instructions": sum(r[0] for r in m.regions), "cycles": sum(r[1] for r in m.regions),
            "regions": [r[:2] for r in m.regions], "console": p.stdout, "by_region": by_region, "total_instructions": m.total_instructions,
            "wait_states": wait_states, "listing": m.listing,
            "unknown": sorted({i.base for i in decoded.values() if i.base not in KNOWN}),
            "functions": {k: {"instructions": v[0], "cycles": v[1]} for k, v in m.by_func.items()},
            "lines": {k: {"instructions": v[0], "cycles": v[1]} for k, v in (m.by_line or {}).items()},
            "mnemonics": {k: {"instructions": v[0], "cycles": v[1]} for k, v in m.by_mnem.items()}}


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="m4cycles.py", description="Cortex-M4 cycles of a firmware region under qemu")
    ap.add_argument("elf")
    ap.add_argument("--function", help="count one call of this function (symbol or address)")
    ap.add_argument("--start", help="count from this address (symbol or number) ...")
    ap.add_argument("--end", help="... up to this one, not included")
    ap.add_argument("--region", action="append", default=[],
                    help="count from NAME_begin up to NAME_end, not included (repeatable)")
    ap.add_argument("--wait-states", type=int, default=0, help="flash wait states per fetch line (default 0)")
    ap.add_argument("--line", type=int, default=16, help="fetch line bytes for --wait-states (default 16)")
    ap.add_argument("--functions", action="store_true", help="cycles per function symbol")
    ap.add_argument("--source", help="with --functions: count this C file's functions apart even when inlined "
                    "(the ELF built with -g)")
    ap.add_argument("--mnemonics", action="store_true", help="cycles per mnemonic")
    ap.add_argument("--lines", type=int, default=0, metavar="N",
                    help="with --source: the N source lines of most cycles")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--annotate", type=int, default=0, help="list the first N costed instructions")
    ap.add_argument("--log", help="keep qemu's log in this file")
    a = ap.parse_args(argv)
    regions = list(a.region)
    if a.start is not None:
        if a.end is None:
            ap.error("--start needs --end")
        regions.append((a.start, a.end))
    if not a.function and not regions:
        a.function = "main"
    r = measure(a.elf, a.function, regions, a.wait_states, a.line, log=a.log, annotate=a.annotate,
                source=a.source)
    if a.json:
        print(json.dumps(r, indent=1))
        return 0
    print("instructions %d" % r["instructions"])
    print("cycles %d" % r["cycles"])
    print("regions %d" % len(r["regions"]))
    if r["unknown"]:
        print("unknown mnemonics (costed 1): %s" % " ".join(r["unknown"]))
    for addr, text, cy in r["listing"]:
        print("%08x %-40s %d" % (addr, text, cy))
    for ln in r["console"].splitlines():
        print("console %s" % ln)
    for name, v in sorted(r["by_region"].items()):
        print("region %s count %d instructions %d cycles %d" % (name, v["count"], v["instructions"], v["cycles"]))
    if a.lines and r["lines"]:
        with open(a.source) as f:
            src = f.read().split("\n")
        for ln, v in sorted(r["lines"].items(), key=lambda kv: -kv[1]["cycles"])[:a.lines]:
            text = src[ln - 1].strip()[:90] if isinstance(ln, int) else "(inlined from another file)"
            print("line %6s %12d instr %12d cycles  %s" % (ln, v["instructions"], v["cycles"], text))
    for key, on in (("functions", a.functions), ("mnemonics", a.mnemonics)):
        if on:
            for k, v in sorted(r[key].items(), key=lambda kv: -kv[1]["cycles"]):
                print("%-32s %12d instr %12d cycles" % (k, v["instructions"], v["cycles"]))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (RuntimeError, subprocess.SubprocessError, OSError) as e:
        print("m4cycles: %s" % e, file=sys.stderr)
        sys.exit(1)
