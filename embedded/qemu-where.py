"""Prints where each core of a running QEMU is: its PC and return address,
read through the monitor socket, with the functions (inlined frames
included) they point into. Used by run-suite.sh when a suite hangs.

    python3 qemu-where.py MONITOR_SOCKET ELF
"""

import re
import shutil
import socket
import subprocess
import sys
import time


def monitor(sock, command):
    sock.sendall((command + "\n").encode())
    time.sleep(0.5)
    out = b""
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            out += data
    except socket.timeout:
        pass
    # The monitor echoes with terminal escapes; keep the register lines.
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", out.decode(errors="replace"))


def symbolize(elf, addresses):
    tool = shutil.which("llvm-addr2line") or shutil.which("addr2line")
    if not tool:
        return "(no addr2line to name the functions)"
    out = subprocess.run([tool, "-f", "-i", "-C", "-e", elf, *addresses],
                         capture_output=True, text=True).stdout
    names = [line for line in out.splitlines() if not line.startswith(("/", "??:"))]
    return "\n".join("      " + n for n in names)


def main():
    path, elf = sys.argv[1], sys.argv[2]
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(path)
    sock.settimeout(0.5)
    monitor(sock, "")
    cpus = re.findall(r"CPU #(\d+)", monitor(sock, "info cpus")) or ["0"]
    for cpu in cpus:
        monitor(sock, f"cpu {cpu}")
        regs = monitor(sock, "info registers")
        arm = re.search(r"R14=([0-9a-f]+) R15=([0-9a-f]+)", regs)
        rv_pc = re.search(r"\bpc\s+([0-9a-f]+)", regs)
        rv_ra = re.search(r"\bra\s+([0-9a-f]+)", regs)
        if arm:
            lr, pc = arm.groups()
            mode = re.search(r"XPSR=([0-9a-f]+).*?(thread|handler)", regs)
            where = f"{mode.group(2)} mode, exception {int(mode.group(1), 16) & 0x1ff}" if mode else ""
        elif rv_pc and rv_ra:
            pc, lr = rv_pc.group(1), rv_ra.group(1)
            mcause = re.search(r"mcause\s+([0-9a-f]+)", regs)
            where = f"mcause {mcause.group(1)}" if mcause else ""
        else:
            print(f"  core {cpu}: registers not understood")
            continue
        print(f"  core {cpu}: pc {pc}, return address {lr} ({where})")
        print("    pc in:")
        print(symbolize(elf, ["0x" + pc]))
        print("    return address in:")
        print(symbolize(elf, ["0x" + lr]))


if __name__ == "__main__":
    main()
