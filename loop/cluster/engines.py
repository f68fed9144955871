"""``--engine-replicas N``: N copies of the run's engine as Ray actors, one :class:`Engine` to the loop.

Each replica is ``create_engine(name, **options)`` on a node (``num_cpus`` for the embedded
llama.cpp engine on CPU nodes, ``num_gpus=1`` for vLLM). A ``generate`` call goes whole to one
free replica: the loop's generation units (a group's turn) are what the replicas share out,
and what goes into one call never depends on which replica takes it. Seeds depend only on the
run seed, problem, sample and turn, so a deterministic engine gives the same texts from any
replica as from a local run.

A replica that dies is restarted by Ray (``max_restarts``) and its call retried there
(``max_task_retries``); when that cannot be (its node is gone), the call runs on another
replica, at most ``attempts`` times, and a replacement replica is started where Ray finds room.
"""
from __future__ import annotations

import logging
import threading
import uuid
from typing import Any, ClassVar, Sequence

from verifiers.types import Message

from ..engines import Completion, Engine, EngineError, GenerationRequest
from .fleet import ray_faults
from .node import EngineReplica

log = logging.getLogger(__name__)


def replica_resources(engine: str, options: dict[str, Any]) -> dict[str, Any]:
    """Ray resources of one replica: a GPU for vLLM, else the CPUs it computes with."""
    if engine == "vllm":
        return {"num_gpus": 1, "num_cpus": 1}
    threads = options.get("n_threads")
    return {"num_cpus": int(threads) if isinstance(threads, int) and threads > 0 else 1}


class ReplicatedEngine(Engine):
    """The run's engine as ``replicas`` Ray actors; calls go to a free one."""

    name: ClassVar[str] = "replicated"

    def __init__(self, engine: str, options: dict[str, Any], replicas: int, *,
                 restarts: int = 2, attempts: int = 3, start_timeout: float = 600.0) -> None:
        import ray

        self.engine = engine
        self.options = dict(options)
        self.resources = replica_resources(engine, self.options)
        if engine == "llamacpp" and "n_threads" not in self.options:
            self.options["n_threads"] = self.resources["num_cpus"]
        self.restarts = restarts
        self.attempts = attempts
        self.start_timeout = start_timeout
        self._faults = ray_faults()
        self._token = uuid.uuid4().hex[:8]
        self._started = 0
        self._cv = threading.Condition()
        self._idle: list[Any] = []
        self._all: list[Any] = []
        self.replaced = 0
        self.busy = 0
        have = ray.cluster_resources()
        for key, res in (("num_cpus", "CPU"), ("num_gpus", "GPU")):
            need = replicas * self.resources.get(key, 0)
            if need > have.get(res, 0):
                raise EngineError(f"--engine-replicas {replicas} needs {need:g} {res}s ({self.resources[key]:g} "
                                  f"per replica) and the cluster has {have.get(res, 0):g}: give fewer "
                                  f"replicas, fewer n_threads, or join nodes")
        actors = [self._start() for _ in range(replicas)]
        try:
            infos = ray.get([a.describe.remote() for a in actors], timeout=start_timeout)
        except self._faults as exc:
            self._kill(actors)
            raise EngineError(f"the engine replicas did not start on the cluster within "
                              f"{start_timeout:.0f}s ({type(exc).__name__}); does it have "
                              f"{replicas} x {self.resources} free? ({str(exc)[:200]})") from None
        except Exception as exc:  # noqa: BLE001 - the engine's own error on the node (missing model...)
            self._kill(actors)
            cause = getattr(exc, "cause", None) or exc
            raise EngineError(f"an engine replica failed to start: {type(cause).__name__}: "
                              f"{str(cause)[:500]}") from None
        self.model_name = str(infos[0]["model_name"])
        stop = infos[0]["stop"]
        self._stop: frozenset[int] | str = str(stop) if isinstance(stop, str) else frozenset(int(t) for t in stop)
        self.hosts = [str(i.get("host", "?")) for i in infos]
        self._all = list(actors)
        self._idle = list(actors)

    def _start(self) -> Any:
        import ray

        self._started += 1  # named, so that an operator (or a test) can find and kill one
        return ray.remote(EngineReplica).options(
            name=f"fireassay-engine-{self._token}-{self._started}",
            max_restarts=self.restarts, max_task_retries=self.restarts, **self.resources,
        ).remote(self.engine, self.options)

    @staticmethod
    def _kill(actors: Sequence[Any]) -> None:
        import ray

        for a in actors:
            try:
                ray.kill(a)
            except Exception:  # noqa: BLE001 - already gone
                pass

    @property
    def replicas(self) -> int:
        with self._cv:
            return len(self._all)

    # -- calls ------------------------------------------------------------------------------
    def _call(self, method: str, *args: Any) -> Any:
        import ray

        last: BaseException | None = None
        for _ in range(self.attempts):
            with self._cv:
                while not self._idle:
                    if not self._all:
                        raise EngineError("every engine replica is gone; fix the cluster and resume")
                    self._cv.wait(1.0)
                actor = self._idle.pop(0)
                self.busy += 1
            try:
                out = ray.get(getattr(actor, method).remote(*args))
            except self._faults as exc:
                last = exc
                self._replace(actor, exc)
                continue
            except BaseException:
                self._give_back(actor)
                raise
            self._give_back(actor)
            return out
        raise EngineError(f"an engine call failed on {self.attempts} replicas, each lost: "
                          f"{type(last).__name__}: {str(last)[:300]}")

    def _give_back(self, actor: Any) -> None:
        with self._cv:
            self.busy -= 1
            self._idle.append(actor)
            self._cv.notify_all()

    def _replace(self, actor: Any, why: BaseException) -> None:
        """A replica Ray could not bring back: drop it, start another where Ray finds room."""
        log.warning("engine replica lost (%s: %s); starting a replacement", type(why).__name__, str(why)[:200])
        self._kill([actor])
        fresh = self._start()
        with self._cv:
            self.busy -= 1
            self._all = [a for a in self._all if a is not actor] + [fresh]
            self._idle.append(fresh)
            self.replaced += 1
            self._cv.notify_all()

    # -- the Engine interface ---------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        return self._call("generate", list(requests))

    def chat_token_ids(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> list[int]:
        return self._call("chat_token_ids", list(messages), add_generation_prompt)

    def tokenize(self, text: str) -> list[int]:
        return self._call("tokenize", text)

    def detokenize(self, token_ids: Sequence[int]) -> str:
        return self._call("detokenize", list(token_ids))

    def stop_token_ids(self) -> frozenset[int]:
        if isinstance(self._stop, str):  # the replicas' engine could not tell; its message
            raise EngineError(self._stop)
        return self._stop

    def close(self) -> None:
        with self._cv:
            actors, self._all, self._idle = self._all, [], []
        self._kill(actors)
