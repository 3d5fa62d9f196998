"""Local folders and S3-compatible buckets behind one small interface.

Every write is atomic: a reader sees either the whole object or nothing. Locally a file is written
under a temporary name in the same folder and renamed into place; on S3 an object only becomes
visible when its (multipart) upload completes, and a failed upload is aborted by boto3's transfer
manager. Large outputs (shards) are staged in a local temporary file first, so a crash while
producing them never reaches the store.

A `Store` pickles by configuration only, so it can be handed to Ray tasks and actors.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import IO, Iterator
from urllib.parse import urlparse

from ilid_ray.config import StorageConfig


class StorageError(RuntimeError):
    """A store operation failed; the message names the object and the cause."""


def inside_root(rel: str) -> str:
    """`rel` if it names a path inside a root (relative, no `..`, no empty parts), else ValueError:
    paths read from manifests and records never reach outside their dataset."""
    parts = rel.split("/")
    if rel and (rel.startswith("/") or "\\" in rel or any(p in ("", ".", "..") for p in parts)):
        raise ValueError(f"{rel!r} is not a path inside the dataset root")
    return rel


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _durable_tmp(dest: Path, write) -> Path:
    """A temporary file next to `dest`, written by `write(file)` and fsynced: once renamed or linked
    into place, a crash of the machine cannot leave a published name with missing bytes."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as out:
        write(out)
        out.flush()
        os.fsync(out.fileno())
    return tmp


def _s3_settings(storage: StorageConfig | None) -> dict[str, str | None]:
    storage = storage or StorageConfig()
    return {
        "endpoint_url": storage.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL"),
        "region": storage.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1",
    }


class Store:
    """A dataset root: a local folder (`/path`, `./path`, `file:///path`) or `s3://bucket/prefix`."""

    def __init__(self, root: str, storage: StorageConfig | None = None):
        parsed = urlparse(root)
        self.storage = storage or StorageConfig()
        if parsed.scheme == "s3":
            if not parsed.netloc:
                raise ValueError(f"{root!r}: an s3:// root needs a bucket name")
            self.is_s3 = True
            self.bucket = parsed.netloc
            self.prefix = parsed.path.strip("/")
            self.root = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        elif parsed.scheme in ("", "file"):
            local = parsed.path if parsed.scheme == "file" else root
            self.is_s3 = False
            self.bucket = ""
            self.prefix = str(Path(local).expanduser().resolve())
            self.root = self.prefix
        else:
            raise ValueError(f"{root!r}: unsupported storage scheme {parsed.scheme!r} (use a path or s3://)")
        self._client = None

    # -- pickling: drop the live client
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_client"] = None
        return state

    def __repr__(self) -> str:
        return f"Store({self.root!r})"

    # -- paths
    def uri(self, rel: str) -> str:
        return f"{self.root}/{inside_root(rel)}" if rel else self.root

    def _key(self, rel: str) -> str:
        return f"{self.prefix}/{inside_root(rel)}" if self.prefix else inside_root(rel)

    def _local(self, rel: str) -> Path:
        return Path(self.prefix) / inside_root(rel)

    @property
    def client(self):
        if self._client is None:
            import boto3
            from botocore.config import Config

            settings = _s3_settings(self.storage)
            self._client = boto3.client(
                "s3",
                endpoint_url=settings["endpoint_url"],
                region_name=settings["region"],
                config=Config(retries={"max_attempts": 5, "mode": "standard"},
                              s3={"addressing_style": "path"}),
            )
        return self._client

    # -- writes (atomic)
    def put_file(self, local_path: str | Path, rel: str) -> None:
        """Publish a finished local file under `rel`; the local file is left in place."""
        try:
            if self.is_s3:
                self.client.upload_file(str(local_path), self.bucket, self._key(rel))
            else:
                dest = self._local(rel)
                with open(local_path, "rb") as source:
                    tmp = _durable_tmp(dest, lambda out: shutil.copyfileobj(source, out, 1 << 20))
                os.replace(tmp, dest)
                _fsync_dir(dest.parent)
        except Exception as exc:  # noqa: BLE001 - re-raised with the object's name
            raise StorageError(f"writing {self.uri(rel)} failed: {exc}") from exc

    def put_bytes(self, data: bytes, rel: str) -> None:
        try:
            if self.is_s3:
                self.client.put_object(Bucket=self.bucket, Key=self._key(rel), Body=data)
            else:
                dest = self._local(rel)
                tmp = _durable_tmp(dest, lambda out: out.write(data))
                os.replace(tmp, dest)
                _fsync_dir(dest.parent)
        except Exception as exc:  # noqa: BLE001
            raise StorageError(f"writing {self.uri(rel)} failed: {exc}") from exc

    def create(self, data: bytes, rel: str) -> bool:
        """Write `rel` only if no object has that name: True if this call created it, False if one
        existed. Atomic locally (a hard link, which fails on an existing name) and on S3 stores that
        honour `If-None-Match: *` (see `honours_conditional_create`)."""
        if self.is_s3:
            try:
                self.client.put_object(Bucket=self.bucket, Key=self._key(rel), Body=data, IfNoneMatch="*")
                return True
            except Exception as exc:  # noqa: BLE001
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
                if code in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                    return False
                raise StorageError(f"creating {self.uri(rel)} failed: {exc}") from exc
        dest = self._local(rel)
        tmp = _durable_tmp(dest, lambda out: out.write(data))
        try:
            os.link(tmp, dest)
            _fsync_dir(dest.parent)
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def honours_conditional_create(self) -> bool:
        """Whether `create` is atomic here: always locally; on S3, probed with a throwaway object
        (some S3-compatible servers ignore `If-None-Match` and silently overwrite)."""
        if not self.is_s3:
            return True
        probe = f"lease/.probe-{uuid.uuid4().hex}"
        try:
            return self.create(b"1", probe) and not self.create(b"2", probe)
        except StorageError:
            return False
        finally:
            self.delete(probe)

    def staged(self, rel: str, suffix: str = "") -> "StagedWrite":
        """Context manager: write to a local temporary path, published atomically on success."""
        return StagedWrite(self, rel, suffix)

    # -- reads
    def get_bytes(self, rel: str) -> bytes:
        try:
            if self.is_s3:
                return self.client.get_object(Bucket=self.bucket, Key=self._key(rel))["Body"].read()
            return self._local(rel).read_bytes()
        except Exception as exc:  # noqa: BLE001
            if self._is_missing(exc):
                raise FileNotFoundError(self.uri(rel)) from exc
            raise StorageError(f"reading {self.uri(rel)} failed: {exc}") from exc

    def open_read(self, rel: str) -> IO[bytes]:
        if self.is_s3:
            try:
                return self.client.get_object(Bucket=self.bucket, Key=self._key(rel))["Body"]
            except Exception as exc:  # noqa: BLE001
                if self._is_missing(exc):
                    raise FileNotFoundError(self.uri(rel)) from exc
                raise StorageError(f"reading {self.uri(rel)} failed: {exc}") from exc
        return open(self._local(rel), "rb")

    def download(self, rel: str, local_path: str | Path) -> None:
        try:
            if self.is_s3:
                self.client.download_file(self.bucket, self._key(rel), str(local_path))
            else:
                shutil.copyfile(self._local(rel), local_path)
        except Exception as exc:  # noqa: BLE001
            if self._is_missing(exc):
                raise FileNotFoundError(self.uri(rel)) from exc
            raise StorageError(f"reading {self.uri(rel)} failed: {exc}") from exc

    def exists(self, rel: str) -> bool:
        if self.is_s3:
            try:
                self.client.head_object(Bucket=self.bucket, Key=self._key(rel))
                return True
            except Exception as exc:  # noqa: BLE001
                if self._is_missing(exc):
                    return False
                raise StorageError(f"checking {self.uri(rel)} failed: {exc}") from exc
        return self._local(rel).is_file()

    def list(self, prefix: str = "") -> list[str]:
        """Relative paths of the objects under `prefix` (a folder), sorted; temporaries excluded."""
        return sorted(self._iter_list(prefix.strip("/")))

    def _iter_list(self, prefix: str) -> Iterator[str]:
        if self.is_s3:
            full = self._key(prefix) + "/" if prefix else (self.prefix + "/" if self.prefix else "")
            strip = len(self.prefix) + 1 if self.prefix else 0
            try:
                pages = list(self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full))
            except Exception as exc:  # noqa: BLE001 - whatever boto raises, said with the place it hit
                raise StorageError(f"listing {self.uri(prefix)} failed: {exc}") from exc
            for page in pages:
                for obj in page.get("Contents", []):
                    yield obj["Key"][strip:]
            return
        base = self._local(prefix) if prefix else Path(self.prefix)
        if not base.is_dir():
            return
        root = Path(self.prefix)
        for path in base.rglob("*"):
            if path.is_file() and not path.name.endswith(".tmp"):
                yield str(path.relative_to(root))

    def delete(self, rel: str) -> None:
        if self.is_s3:
            try:
                self.client.delete_object(Bucket=self.bucket, Key=self._key(rel))
            except Exception as exc:  # noqa: BLE001
                raise StorageError(f"deleting {self.uri(rel)} failed: {exc}") from exc
        else:
            self._local(rel).unlink(missing_ok=True)

    # -- Ray Data / pyarrow access
    def arrow_filesystem(self):
        """(pyarrow filesystem, path of the root inside it) for `ray.data.read_*`."""
        import pyarrow.fs as pafs

        if not self.is_s3:
            return pafs.LocalFileSystem(), self.prefix
        settings = _s3_settings(self.storage)
        kwargs: dict = {"region": settings["region"]}
        if settings["endpoint_url"]:
            endpoint = urlparse(settings["endpoint_url"])
            kwargs["endpoint_override"] = endpoint.netloc or endpoint.path
            kwargs["scheme"] = endpoint.scheme or "https"
        if os.environ.get("AWS_ACCESS_KEY_ID"):
            kwargs["access_key"] = os.environ["AWS_ACCESS_KEY_ID"]
            kwargs["secret_key"] = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
            if os.environ.get("AWS_SESSION_TOKEN"):  # temporary (STS / role) credentials
                kwargs["session_token"] = os.environ["AWS_SESSION_TOKEN"]
        return pafs.S3FileSystem(**kwargs), f"{self.bucket}/{self.prefix}".rstrip("/")

    def arrow_paths(self, rels: list[str]) -> tuple[object, list[str]]:
        fs, base = self.arrow_filesystem()
        return fs, [f"{base}/{r}" for r in rels]

    @staticmethod
    def _is_missing(exc: Exception) -> bool:
        if isinstance(exc, FileNotFoundError):
            return True
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        return code in ("404", "NoSuchKey", "NotFound")


class StagedWrite:
    """`with store.staged("shards/x.tar") as path:` write `path`; published only if no exception."""

    def __init__(self, store: Store, rel: str, suffix: str):
        self.store, self.rel, self.suffix = store, rel, suffix

    def __enter__(self) -> Path:
        self._dir = tempfile.mkdtemp(prefix="ilid-stage-")
        self.path = Path(self._dir) / (Path(self.rel).name + self.suffix)
        return self.path

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.store.put_file(self.path, self.rel)
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)
