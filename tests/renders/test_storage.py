"""Rendered bytes in S3-compatible storage (moto's server: real HTTP, real boto3), and
bounded retries when the store is unreachable."""

from __future__ import annotations

import io

import boto3
import pytest
import redis as redis_lib
import requests
from django.core.files.storage import storages
from PIL import Image

from config.celery import app
from renders.models import RenderJob
from tests.factories import api_key_for, svg_document
from tests.support.processes import free_port, service_env, start_s3, start_web, start_worker


@pytest.fixture
def eager_tasks():
    """Run tasks in this process (the embedded default's mode) for storage tests, so the
    storage settings below apply to the worker side too."""
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def s3_server():
    port = free_port()
    server = start_s3(port)
    yield f"http://127.0.0.1:{port}"
    server.stop()


def s3_storages(endpoint: str, bucket: str) -> dict:
    return {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": endpoint,
                "access_key": "testing",
                "secret_key": "testing",
                "region_name": "us-east-1",
                "addressing_style": "path",
                "default_acl": None,
                "file_overwrite": True,
                "querystring_auth": False,
            },
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def s3_client(endpoint: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


@pytest.mark.usefixtures("transactional_db", "eager_tasks")
def test_render_is_stored_in_s3_at_its_content_address(api, settings, s3_server):
    s3_client(s3_server).create_bucket(Bucket="kiln-renders")
    settings.STORAGES = s3_storages(s3_server, "kiln-renders")

    job = api.post("/v1/images", {"svg": svg_document(64, 32)}, format="json").json()

    assert job["status"] == "succeeded", job
    row = RenderJob.objects.get(id=job["id"])
    assert (
        row.storage_path == f"renders/{row.cache_key[:2]}/{row.cache_key[2:4]}/{row.cache_key}.png"
    )
    stored = s3_client(s3_server).get_object(Bucket="kiln-renders", Key=row.storage_path)
    data = stored["Body"].read()
    assert Image.open(io.BytesIO(data)).size == (64, 32)
    assert api.get(job["image_url"]).content == data
    assert storages["default"].exists(row.storage_path)


@pytest.mark.usefixtures("transactional_db", "eager_tasks")
def test_unreachable_store_is_retried_a_bounded_number_of_times_then_fails(api, settings):
    settings.STORAGES = s3_storages(f"http://127.0.0.1:{free_port()}", "nowhere")
    settings.AWS_S3_MAX_ATTEMPTS = 1

    response = api.post("/v1/images", {"svg": svg_document(fill="#0f0f0f")}, format="json")

    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "RENDER_FAILED"
    assert "could not store" in error["message"]
    job = error["details"]["job"]
    assert job["status"] == "failed"
    assert job["error"]["code"] == "RENDER_FAILED"
    # KILN_RENDER_MAX_ATTEMPTS (3) claims of the requeued job in all, then it gives up.
    assert RenderJob.objects.get(id=job["id"]).attempts == settings.KILN_RENDER_MAX_ATTEMPTS


def test_the_farm_stores_in_s3_when_kiln_s3_settings_are_set(
    test_database_name, transactional_db, account, s3_server
):
    s3_client(s3_server).create_bucket(Bucket="farm-renders")
    redis_url = "redis://127.0.0.1:6379/12"
    redis_lib.Redis.from_url(redis_url).flushdb()
    env = service_env(
        test_database_name,
        REDIS_URL=redis_url,
        KILN_S3_BUCKET="farm-renders",
        KILN_S3_ENDPOINT_URL=s3_server,
        KILN_S3_ACCESS_KEY_ID="testing",
        KILN_S3_SECRET_ACCESS_KEY="testing",
        KILN_S3_PREFIX="kiln",
    )
    port = free_port()
    web = start_web(env, name="s3-web", port=port)
    worker = start_worker(env, name="s3-worker", queues="svg")
    try:
        response = requests.post(
            f"http://127.0.0.1:{port}/v1/images",
            json={"svg": svg_document(48, 24, fill="#00ff00")},
            headers={"Authorization": f"Bearer {api_key_for(account)}", "Accept": "image/png"},
            timeout=30,
        )

        assert response.status_code == 200, response.text
        row = RenderJob.objects.get(account=account)
        stored = s3_client(s3_server).get_object(
            Bucket="farm-renders", Key=f"kiln/{row.storage_path}"
        )
        assert stored["Body"].read() == response.content
        assert Image.open(io.BytesIO(response.content)).size == (48, 24)
    finally:
        worker.stop()
        web.stop()
        redis_lib.Redis.from_url(redis_url).flushdb()
