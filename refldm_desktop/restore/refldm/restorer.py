"""ReF-LDM as a Restorer (entry point "refldm" in refldm_desktop.restorers).

- The model is read from the home's model store (home/models/<name>) on the first restore,
  once per instance; the photo job keeps one instance per runner, so a batch loads it once.
- The references' keys and values (RefLDM.encode_references: one VQ pass and one UNet pass)
  are kept for the last few reference sets, keyed by the crops' bytes: all faces of one
  person in a photo share them, and so do the next photos restored with the same references.
- The VQ pass's latents also go to a store on disk (`cache_dir`, the home's cache by default),
  so a later process restoring the same person skips the VQ encoder and runs only the UNet's
  reference pass. Changed references are other crops, hence another key.
- The LQ crops' latents are kept for the last LQ_LATENTS_KEPT crops, keyed by their bytes:
  a quick preview and the full result after it encode each face once.
- Faces of one person go through the UNet in batches that share one copy of the reference
  keys/values (attention.py). A face restored in a batch differs from the same face restored
  alone only by float rounding: on the tiny golden model the final latent by at most 2e-6 of
  its largest value, the decoded image by 3.4e-5 (of [-1, 1]), the 8-bit output by one level
  in under 0.05% of values (tests/restore/test_refldm_batch.py allows 10 times that). Each
  face's initial noise is drawn from the seed on its own, so batching changes no draw.
- The batch size is the device's: one face at a time on the CPU (a batch of 2 was no faster
  per face there: two cores are already busy with one face), BATCH_ON_ACCELERATOR elsewhere,
  never more than `options.batch_size`. Out of memory with a batch of several faces, the
  batch is halved and the rest of this run keeps the smaller size; out of memory with one
  face, the error goes up and the job runner moves to the CPU.

torch is imported only when a model is loaded.
"""

from __future__ import annotations

import threading
import traceback
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from refldm_desktop.defaults import DEFAULT_MODEL
from refldm_desktop.errors import Advice, advise, is_out_of_memory
from refldm_desktop.restore.protocol import (
    CancelCheck,
    ProgressCallback,
    RestoreCancelled,
    RestoreError,
    RestoreOptions,
    RestoreProgress,
    check_crops,
)
from refldm_desktop.restore.refldm.latent_store import ReferenceLatentStore, latent_key
from refldm_desktop.restore.refldm.precision import store_in

BATCH_ON_ACCELERATOR = 8  # faces per UNet batch on a GPU: 8 of one person fit in 2 GiB in bf16
REFERENCE_SETS_KEPT = 4  # a few MB each at 512 px; one set per person being restored
# LQ latents kept (128 KiB each at 512 px): a quick preview and the full result that follows
# it encode the same crops, as does restoring a photo again with other steps, seed or guidance.
LQ_LATENTS_KEPT = 64


class RefLDMRestorer:
    name = "refldm"
    # ReF-LDM can run without references (it then attends to zeroed ones); the photo job
    # decides by its own rule whether a face without references is restored.
    needs_references = False

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        models_dir: str | Path | None = None,
        device: str = "auto",
        precision: str = "auto",
        cuda_graphs: bool = False,
        cache_dir: str | Path | None = None,
        batch_size: int | None = None,
    ) -> None:
        """`batch_size`: faces per UNet batch instead of the device's choice (tests, benchmarks)."""
        self.model_name = model or DEFAULT_MODEL
        if models_dir is None:
            # Where `models install` puts models when no home is given.
            from refldm_desktop.core.home import resolve_home

            models_dir = resolve_home().models
        self.models_dir = Path(models_dir)
        if cache_dir is None:
            # models_dir is <home>/models unless a caller chose otherwise: keep the cache beside it.
            cache_dir = self.models_dir.parent / "cache" / "ref_latents"
        self.latent_store: ReferenceLatentStore | None = ReferenceLatentStore(cache_dir) if cache_dir else None
        # --precision auto's measured choice per device (precision.py), beside the latents.
        self.precision_file = store_in(Path(cache_dir).parent) if cache_dir else None
        self.requested_device = device
        self.precision = precision
        self.cuda_graphs = cuda_graphs
        self.batch_size = batch_size
        self._batch_limit: dict[str, int] = {}  # device -> a batch size that ran out of memory, halved
        self._stored: Any = None
        self._model: Any = None
        self._refs: OrderedDict[str, Any] = OrderedDict()
        self._lq: OrderedDict[str, Any] = OrderedDict()  # crop key -> its VQ latent [1, C, h, w]
        self._lq_owner: object = None  # the model those latents came from
        self._lock = threading.Lock()
        self.reference_encodings = 0  # how often references went through the model (for tests)
        self.vq_reference_encodings = 0  # how often the VQ encoder ran on references (for tests)
        self.lq_encodings = 0  # how many LQ crops went through the VQ encoder (for tests)

    # -- what the pipeline reads --------------------------------------------------------

    @property
    def path(self) -> Path:
        return self.models_dir / self.model_name

    def _store_entry(self):
        """The stored model's manifest and config (files not hashed: that happens on load)."""
        if self._stored is None:
            from refldm_desktop.restore.refldm.store import ModelStoreError, check_name, open_model

            try:
                check_name(self.model_name)
                self._stored = open_model(self.path, verify=False)
            except ModelStoreError as exc:
                raise RestoreError(
                    f"{exc} ({advise(Advice.INSTALL_WEIGHTS)})"
                ) from None
        return self._stored

    @property
    def resolution(self) -> int:
        try:
            return int(self._store_entry().config.image_size)
        except RestoreError:
            return 512  # what the released model uses; available() says why it cannot run

    @property
    def model(self) -> str:
        """The model's name and the first digits of its UNet file's sha256 (its version)."""
        try:
            files = self._store_entry().manifest.get("files", {})
        except RestoreError:
            return self.model_name
        sha = str(files.get("unet.safetensors", {}).get("sha256", ""))[:12]
        return f"{self.model_name}@{sha}" if sha else self.model_name

    @property
    def device(self) -> str:
        """Where it runs (or will run): "auto" resolved to "cuda" or "cpu"."""
        if self._model is not None:
            return str(self._model.device)
        if self.requested_device == "auto":
            try:
                from refldm_desktop.restore.refldm.model import resolve_device

                return str(resolve_device("auto"))
            except ImportError:
                return "cpu"
        return self.requested_device

    def available(self) -> tuple[bool, str]:
        try:
            self._store_entry()
        except RestoreError as exc:
            return False, str(exc)
        try:
            import torch
        except ImportError as exc:
            return False, f"PyTorch is not installed ({exc})"
        if self.requested_device.startswith("cuda") and not torch.cuda.is_available():
            return False, f"{Advice.DEVICE_CUDA}, but this PyTorch sees no CUDA GPU"
        return True, ""

    # -- the model --------------------------------------------------------------------

    def _target(self, options: RestoreOptions) -> str:
        return options.device if options.device and options.device != "auto" else self.requested_device

    def _load(self, device: str):
        from refldm_desktop.restore.refldm.model import RefLDM, resolve_device
        from refldm_desktop.restore.refldm.store import ModelStoreError

        try:
            wanted = resolve_device(device)
        except ValueError as exc:
            raise RestoreError(str(exc)) from None
        if self._model is not None and self._model.device != wanted:
            self._model = None  # another device: let the old weights go first
            self._refs.clear()
        if self._model is None:
            self._store_entry()
            from refldm_desktop.restore.refldm.precision import resolve as resolve_precision

            try:
                precision = resolve_precision(self.precision, self.path, str(wanted), self.precision_file,
                                              self.model, self.resolution)
                self._model = RefLDM.load(self.path, device=str(wanted), precision=precision,
                                          cuda_graphs=self.cuda_graphs)
            except ModelStoreError as exc:
                raise RestoreError(str(exc)) from None
            self._refs.clear()
        return self._model

    def _vq_version(self) -> str:
        files = self._store_entry().manifest.get("files", {})
        return f"{self.model_name}:{files.get('vq.safetensors', {}).get('sha256', '')}"

    def _reference_latents(self, model, references: Sequence[np.ndarray]):
        """The VQ latents of the references: from the disk store when a run made them before."""
        if not references:
            return None
        store = self.latent_store
        key = latent_key(self._vq_version(), self.resolution, references) if store else ""
        latents = store.get(key) if store else None
        if latents is None or latents.shape[0] != len(references):
            latents = model.encode_reference_latents(list(references))
            self.vq_reference_encodings += 1
            if store:
                store.put(key, latents)
        return latents

    def _references(self, model, references: Sequence[np.ndarray]):
        """The keys/values of these references, encoded once per set of crops."""
        key = latent_key("memory", self.resolution, references)
        cache = self._refs.get(key)
        if cache is None:
            cache = model.reference_cache_from_latents(self._reference_latents(model, references))
            self.reference_encodings += 1
            self._refs[key] = cache
            while len(self._refs) > REFERENCE_SETS_KEPT:
                self._refs.popitem(last=False)
        else:
            self._refs.move_to_end(key)
        return cache

    def _lq_latents(self, model, crops: Sequence[np.ndarray]):
        """The VQ latents [B, C, h, w] of these LQ crops; crops seen lately are not encoded again."""
        import torch

        if self._lq_owner is not model._token:  # another model (device, precision): start afresh
            self._lq.clear()
            self._lq_owner = model._token
        keys = [latent_key("lq", self.resolution, [c]) for c in crops]
        missing = [i for i, k in enumerate(keys) if k not in self._lq]
        if missing:
            fresh = model.encode(model.images_to_tensor([crops[i] for i in missing]))
            self.lq_encodings += len(missing)
            for i, latent in zip(missing, fresh, strict=True):
                self._lq[keys[i]] = latent[None].cpu()
        for k in keys:
            self._lq.move_to_end(k)
        latents = torch.cat([self._lq[k] for k in keys])
        while len(self._lq) > LQ_LATENTS_KEPT:
            self._lq.popitem(last=False)
        return latents

    # -- the protocol -----------------------------------------------------------------

    def restore(
        self,
        crops: Sequence[np.ndarray],
        references: Sequence[np.ndarray],
        options: RestoreOptions = RestoreOptions(),
        progress: ProgressCallback | None = None,
        cancelled: CancelCheck | None = None,
    ) -> list[np.ndarray]:
        res = self.resolution
        check_crops(crops, res)
        check_crops(references, res, "reference")
        if not crops:
            return []
        from refldm_desktop.restore.refldm.model import RestoreCancelled as ModelCancelled

        with self._lock:
            if cancelled is not None and cancelled():
                raise RestoreCancelled("cancelled")
            model = self._load(self._target(options))
            refs = self._references(model, references)
            noise = model.initial_noise(1, int(options.seed))
            total = len(crops)
            out: list[np.ndarray] = []
            while len(out) < total:
                done = len(out)
                batch = min(self._batch_for(model, options), total - done)

                def step(state, done: int = done) -> None:
                    if progress is not None:
                        progress(RestoreProgress(done, total, state.index + 1, state.total))

                try:
                    faces = crops[done:done + batch]
                    restored = model.restore(
                        np.stack(faces), refs, steps=options.steps, cfg=options.cfg,
                        noise=noise.expand(batch, -1, -1, -1).clone(), callback=step, cancel=cancelled,
                        lq_latent=self._lq_latents(model, faces),
                    )
                except ModelCancelled:
                    raise RestoreCancelled("cancelled") from None
                except Exception as exc:
                    if batch == 1 or not is_out_of_memory(exc):
                        raise
                    traceback.clear_frames(exc.__traceback__)  # let the batch's tensors go
                    restored = None
                if restored is None:
                    self._batch_limit[str(model.device)] = batch // 2
                    _free_memory()
                    continue
                out.extend(np.ascontiguousarray(r) for r in restored)
                if progress is not None:
                    progress(RestoreProgress(len(out), total, 1, 1))
            return out

    def _batch_for(self, model, options: RestoreOptions) -> int:
        """Faces per UNet batch: the device's choice, at most the options' and what fitted."""
        wanted = self.batch_size or (1 if model.device.type == "cpu" else BATCH_ON_ACCELERATOR)
        if options.batch_size:
            wanted = min(wanted, options.batch_size)
        return max(1, min(wanted, self._batch_limit.get(str(model.device), wanted)))


def _free_memory() -> None:
    import gc

    import torch

    gc.collect()  # tensors held by reference cycles of the failed attempt
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


__all__ = ["RefLDMRestorer"]
