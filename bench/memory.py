"""Peak memory of process trees, sampled from /proc/<pid>/status while a benchmark runs.

VmRSS is the resident size at the moment of the sample; VmHWM is the kernel's own high-water
mark of it for the life of the process, so a short-lived RQ work-horse that peaks between two
samples is still counted as long as it is seen once.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field

from .procs import children_of


def _status_kb(pid: int) -> dict[str, int]:
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
    with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            if line.startswith("Pss:"):
                values["Pss"] = int(line.split()[1])
                break
    return values


@dataclass
class TreePeak:
    root: int
    samples: int = 0
    peak_tree_rss_kb: int = 0  # the largest sum of VmRSS over the tree in one sample
    peak_tree_pss_kb: int = 0  # the same with Pss: shared pages counted once
    peak_processes: int = 0
    hwm_kb: dict[int, int] = field(default_factory=dict)  # pid -> last VmHWM seen
    cmd: dict[int, str] = field(default_factory=dict)

    def sample(self) -> None:
        total, pss, alive = 0, 0, 0
        for pid in [self.root, *children_of(self.root)]:
            with contextlib.suppress(OSError):
                values = _status_kb(pid)
                if not values.get("VmHWM"):
                    continue  # a zombie: already exited, nothing mapped any more
                if pid not in self.cmd:
                    self.cmd[pid] = _cmdline(pid)
                total += values.get("VmRSS", 0)
                pss += values.get("Pss", 0)
                self.hwm_kb[pid] = values["VmHWM"]
                alive += 1
        self.samples += 1
        self.peak_tree_rss_kb = max(self.peak_tree_rss_kb, total)
        self.peak_tree_pss_kb = max(self.peak_tree_pss_kb, pss)
        self.peak_processes = max(self.peak_processes, alive)

    def summary(self) -> dict:
        biggest = max(self.hwm_kb.items(), key=lambda item: item[1], default=(None, 0))
        return {
            "samples": self.samples,
            "peak_tree_rss_mb": round(self.peak_tree_rss_kb / 1024, 1),
            "peak_tree_pss_mb": round(self.peak_tree_pss_kb / 1024, 1),
            "max_process_hwm_mb": round(biggest[1] / 1024, 1),
            "max_process": self.cmd.get(biggest[0], "") if biggest[0] else "",
            "processes_seen": len(self.hwm_kb),
            "peak_processes_at_once": self.peak_processes,
            "per_process_hwm_mb": {
                f"{pid} {self.cmd.get(pid, '')}": round(kb / 1024, 1)
                for pid, kb in sorted(self.hwm_kb.items())
            },
        }


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            text = cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()
            return text[:80]
    return ""


class MemorySampler:
    """Samples named process trees every `every` seconds on a thread, until stopped."""

    def __init__(self, roots: dict[str, int], every: float = 0.05) -> None:
        self.trees = {name: TreePeak(pid) for name, pid in roots.items()}
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for tree in self.trees.values():
                tree.sample()
            self._stop.wait(self.every)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        for tree in self.trees.values():
            tree.sample()

    def summary(self) -> dict:
        return {name: tree.summary() for name, tree in self.trees.items()}
