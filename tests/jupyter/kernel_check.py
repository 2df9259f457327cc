"""Starts a kernel from a kernelspec with jupyter_client's KernelManager, as
Jupyter does, and reports what happened as JSON on stdout.

    kernel_check.py KERNEL full      prefix and umask, the process's names,
                                     interrupt, shutdown
    kernel_check.py KERNEL write     a cell that writes into the env
    kernel_check.py KERNEL refused   a kernel that must not start
    kernel_check.py FILE connect     a running kernel (its connection file):
                                     may it open a listening TCP port?

The kernelspec is found the way Jupyter finds it (JUPYTER_DATA_DIR and
JUPYTER_PATH); the kernel's stderr is this process's stderr.
"""

import json
import os
import sys
import time

from jupyter_client.manager import KernelManager


def run_cell(client, code, timeout=60):
    """Executes code; returns (stdout text, reply content)."""
    out = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])

    reply = client.execute_interactive(code, output_hook=hook, timeout=timeout)
    return "".join(out), reply["content"]


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


BIND_CELL = """import socket
try:
    socket.socket().bind(("127.0.0.1", 0))
    print("BOUND")
except OSError as e:
    print(type(e).__name__, e.errno)"""


def connect(connection_file):
    from jupyter_client import BlockingKernelClient
    client = BlockingKernelClient(connection_file=connection_file)
    client.load_connection_file()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    text, _ = run_cell(client, BIND_CELL)
    client.stop_channels()
    print(json.dumps({"transport": client.transport, "bind": text.strip()}))


def main():
    kernel, mode = sys.argv[1], sys.argv[2]
    if mode == "connect":
        return connect(kernel)
    km = KernelManager(kernel_name=kernel)
    report = {"argv": km.kernel_spec.argv}
    km.start_kernel()
    launched = km.provisioner.pid
    report["launched_pid"] = launched
    if mode == "refused":
        for _ in range(200):
            code = km.provisioner.process.poll()
            if code is not None:
                break
            time.sleep(0.05)
        report["exit_code"] = km.provisioner.process.poll()
        km.cleanup_resources()
        print(json.dumps(report))
        return
    client = km.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    text, _ = run_cell(client, "import sys, os; print(sys.prefix, oct(os.umask(0o27)), os.getpid())")
    prefix, umask, pid = text.split()
    report.update(prefix=prefix, umask=umask, kernel_pid=int(pid))
    # what the kernel process is, as ps and the kernel itself see it
    text, _ = run_cell(
        client,
        "import json, sys\n"
        "print(json.dumps({'executable': sys.executable,"
        " 'comm': open('/proc/self/comm').read().strip(),"
        " 'argv0': open('/proc/self/cmdline').read().split(chr(0))[0]}))",
    )
    report["process"] = json.loads(text)
    if mode == "write":
        text, reply = run_cell(
            client,
            "import sys\ntry:\n    open(sys.prefix + '/planted.py', 'w')\n    print('WROTE')\n"
            "except OSError as e:\n    print(type(e).__name__, e.errno)",
        )
        report["write"] = text.strip()
    else:
        # interrupt a long cell, as the notebook's stop button does
        msg_id = client.execute("import time; time.sleep(60)")
        time.sleep(1.5)
        started = time.monotonic()
        km.interrupt_kernel()
        while True:
            reply = client.get_shell_msg(timeout=30)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        report["interrupt"] = {
            "status": reply["content"]["status"],
            "ename": reply["content"].get("ename"),
            "seconds": round(time.monotonic() - started, 2),
        }
        text, _ = run_cell(client, "print('still alive')")
        report["after_interrupt"] = text.strip()
    client.stop_channels()
    km.shutdown_kernel(now=False)
    for _ in range(100):
        if not alive(report["kernel_pid"]):
            break
        time.sleep(0.05)
    report["alive_after_shutdown"] = alive(report["kernel_pid"])
    print(json.dumps(report))


if __name__ == "__main__":
    main()
