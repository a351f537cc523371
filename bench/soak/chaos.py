"""The soak's moving parts (:mod:`bench.soak`): the stack, the jobs, the killer, the hostile
producer, and the final reckoning."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from bench.soak import check
from bench.soak.job import run_events
from emitters.client import LineageClient
from emitters.transports.kafka import KafkaTransport
from emitters.transports.spool import Spool
from lineage_app.localstack.processes import free_port, pid_alive, port_open
from lineage_app.localstack.stack import down, read_state, up
from lineage_pipeline.codec import EventCodec
from lineage_pipeline.errors import StackError
from lineage_pipeline.graph import open_backend
from lineage_pipeline.settings import load_settings

SERVICES = ("kafka", "graph", "processor", "sink")
_NAN_RUN = ('{{"eventType": "COMPLETE", "eventTime": "2026-12-01T00:00:00Z", "producer": "soak",'
            ' "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json",'
            ' "run": {{"runId": "{run}", "facets": {{"custom": {{"_producer": "soak",'
            ' "_schemaURL": "s", "score": NaN}}}}}}, "job": {{"namespace": "soak",'
            ' "name": "ol.nan"}}, "inputs": [], "outputs": []}}')


def _two_free_ports() -> int:
    """A free port whose successor is free too (Kafka's client and controller ports)."""
    while True:
        port = free_port()
        if port < 65535 and not port_open(port + 1):
            return port


class Soak:
    """One soak run under ``root`` (see the package docstring)."""

    def __init__(self, root: Path, jobs: int, rate: float, rng: random.Random) -> None:
        self.root, self.slots, self.rate, self.rng = root, jobs, rate, rng
        port = _two_free_ports()
        self.settings = load_settings(
            data_dir=root / "stack", kafka={"bootstrap_servers": f"127.0.0.1:{port}"},
            graph={"backend": "neo4j", "url": f"bolt://127.0.0.1:{free_port()}"},
            processor={"metrics_port": free_port()}, sink={"metrics_port": free_port()},
            serve={"port": free_port()})
        self.bootstrap = self.settings.kafka.bootstrap_servers
        self.jobs: dict[int, subprocess.Popen[bytes]] = {}
        self.kills: Counter[str] = Counter()
        self.hostile: dict[check.Where, str] = {}
        self.producer: Producer | None = None

    # -- parts ---------------------------------------------------------------------------
    def _up(self) -> None:
        for attempt in range(3):
            try:
                up(self.settings)
                return
            except StackError as exc:
                print(f"[soak] up failed ({exc}); retrying", flush=True)
                time.sleep(2 + 3 * attempt)
        up(self.settings)

    def _job_dir(self, slot: int) -> Path:
        return self.root / "jobs" / f"slot{slot}"

    def _start_job(self, slot: int) -> None:
        home = self._job_dir(slot)
        home.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "bench.soak.job", self.bootstrap,
                self.settings.topics.events, str(home / "spool"), str(home / "journal"),
                str(slot), str(self.rate)]
        with (home / "job.log").open("ab") as log:
            self.jobs[slot] = subprocess.Popen(argv, stdout=log, stderr=log,
                                               start_new_session=True)

    def start(self) -> None:
        """Start the stack, then the jobs."""
        print(f"[soak] starting the stack under {self.root}", flush=True)
        self._up()
        self.producer = Producer({"bootstrap.servers": self.bootstrap, "acks": "all",
                                  "message.timeout.ms": 30000})
        for slot in range(self.slots):
            self._start_job(slot)

    # -- chaos ---------------------------------------------------------------------------
    def _kill(self, target: str, sig: signal.Signals) -> None:
        if target.startswith("job"):
            proc = self.jobs[int(target[3:])]
            pid = proc.pid
        else:
            info = read_state(self.settings).get(target)
            if info is None or not pid_alive(info.pid):
                return
            pid = info.pid
        self.kills[f"{target.rstrip('0123456789')}:{sig.name}"] += 1
        print(f"[soak] {sig.name} {target} (pid {pid})", flush=True)
        os.kill(pid, sig)
        deadline = time.monotonic() + 60
        while pid_alive(pid) and time.monotonic() < deadline:
            if target.startswith("job"):
                self.jobs[int(target[3:])].poll()
            time.sleep(0.2)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)

    def chaos(self, seconds: float) -> None:
        """Kill and restart parts at random for ``seconds``, hostile records every 2 s."""
        end = time.monotonic() + seconds
        next_kill = time.monotonic() + self.rng.uniform(4, 12)
        targets = [*SERVICES, *(f"job{s}" for s in range(self.slots))]
        while time.monotonic() < end:
            self._hostile()
            time.sleep(2)
            if time.monotonic() < next_kill:
                continue
            target = self.rng.choice(targets)
            self._kill(target, self.rng.choice((signal.SIGKILL, signal.SIGTERM)))
            time.sleep(self.rng.uniform(1, 5))
            if target.startswith("job"):
                self._start_job(int(target[3:]))
            else:
                self._up()
            next_kill = time.monotonic() + self.rng.uniform(4, 12)

    def _hostile(self) -> None:
        assert self.producer is not None
        kind = self.rng.choice(("garbage", "truncated", "bad_json", "nan"))
        topics = self.settings.topics
        if kind == "garbage":
            topic, value = topics.events, self.rng.randbytes(self.rng.randint(1, 65536))
        elif kind == "truncated":
            whole = EventCodec().encode(run_events(99, 0)[1])
            topic, value = topics.events, whole[: self.rng.randint(1, len(whole) - 1)]
        elif kind == "bad_json":
            topic, value = topics.openlineage, b'{"eventType": "START", "run": '
        else:
            run = f"0196a3a4-0000-7000-8000-{self.rng.getrandbits(48):012x}"
            topic, value = topics.openlineage, _NAN_RUN.format(run=run).encode()

        def acked(err: KafkaError | None, msg: Message) -> None:
            if err is None and kind != "nan":
                self.hostile[(msg.topic() or "", msg.partition() or 0, msg.offset() or 0)] = kind

        self.producer.produce(topic, value, on_delivery=acked)
        self.producer.poll(0)

    # -- the end -------------------------------------------------------------------------
    def _stop_jobs(self) -> None:
        for proc in self.jobs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.jobs.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def _replay_spools(self) -> int:
        """Replay every slot's spool; return the records left in them."""
        left = 0
        for slot in range(self.slots):
            spool_dir = self._job_dir(slot) / "spool"
            client = LineageClient.from_config(bootstrap_servers=self.bootstrap,
                                               topic=self.settings.topics.events,
                                               spool_dir=str(spool_dir))
            if isinstance(client.transport, KafkaTransport):
                client.transport.replay(wait_s=30)
            client.close(10)
            left += Spool(spool_dir).status().records if spool_dir.exists() else 0
        return left

    def _emitted(self) -> set[str]:
        ids: set[str] = set()
        for slot in range(self.slots):
            journal = self._job_dir(slot) / "journal"
            if journal.exists():
                ids |= {line.split()[0] for line in journal.read_text().splitlines() if line}
        return ids

    def finish(self, settle_s: float) -> dict[str, Any]:
        """Stop the chaos: whole stack, jobs stopped, spools replayed; wait for the graph;
        read everything back and return the figures."""
        print("[soak] settling", flush=True)
        self._up()
        self._stop_jobs()
        assert self.producer is not None
        self.producer.flush(60)
        spool_left = self._replay_spools()
        topics = self.settings.topics
        runs, bad, acked_ids = check.valid_runs(
            check.read_topic(self.bootstrap, topics.events),
            check.read_topic(self.bootstrap, topics.openlineage))
        settings = load_settings(data_dir=self.settings.data_dir,
                                 kafka=self.settings.kafka.model_dump(),
                                 graph={"backend": "neo4j", "url": self.settings.graph.url})
        backend = open_backend(settings.graph)
        try:
            deadline = time.monotonic() + settle_s
            while True:
                figures = check.accounting(runs, check.graph_runs(backend))
                dlq = check.dead_letters(check.read_topic(self.bootstrap, topics.dlq))
                missing_dlq = [w for w in self.hostile if w not in dlq]
                if (not figures["runs_lost"] and not missing_dlq) or time.monotonic() > deadline:
                    break
                time.sleep(5)
            duplicated = check.graph_duplicates(backend)
        finally:
            backend.close()
        emitted = self._emitted()
        unexpected = {f"{w[0]}[{w[1]}]@{w[2]}": r for w, r in dlq.items()
                      if w not in self.hostile and w not in bad}
        result: dict[str, Any] = {
            "emitted": len(emitted), "acknowledged": len(acked_ids),
            "unsent_at_sigkill": len(emitted - acked_ids), **figures,
            "duplicated": duplicated, "hostile": len(self.hostile),
            "hostile_by_kind": dict(Counter(self.hostile.values())),
            "hostile_not_dead_lettered": len(missing_dlq), "dlq_records": len(dlq),
            "dlq_reasons": dict(Counter(dlq.values())), "unexpected_dlq": unexpected,
            "spool_records_left": spool_left, "kills": dict(self.kills),
            "kills_total": sum(self.kills.values()),
        }
        result["goal_met"] = (figures["runs_lost"] == 0 and duplicated == 0
                              and not missing_dlq and not unexpected and spool_left == 0)
        print(json.dumps(result), flush=True)
        return result

    def stop(self) -> None:
        """Stop the jobs and the stack by pid."""
        for proc in self.jobs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        down(self.settings)
