"""A device agent against the cloud stand-in (a real `edgeway cloud run`): its shadow's desired interval,
set from the cloud side with boto3's `iot-data` client, is adopted and reported; jobs created with
boto3's `iot` client succeed, fail with a reason, and one created while the device is away is delivered
when it is back. Request and response shapes are checked with botocore's own model."""

from __future__ import annotations

import json
import threading

import boto3
import botocore.session
import pytest
from botocore.validate import ParamValidator

from device_client.agent import AgentSettings, DeviceAgent
from device_client.client import DeviceClient
from device_client.outbox import Outbox
from device_client.paho_transport import PahoTransport
from device_client.transport import Endpoint
from tests.waiting import wait_for

THING = "sensor-42"
IOT = botocore.session.get_session().get_service_model("iot")


def client(service: str, cloud):
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=cloud.http,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def valid(operation: str, answer: dict) -> dict:
    """botocore's validator, run on an answer against the operation's output shape."""
    shape = IOT.operation_model(operation).output_shape
    body = {k: v for k, v in answer.items() if k != "ResponseMetadata"}
    report = ParamValidator().validate(body, shape)
    assert not report.has_errors(), report.generate_report()
    return body


class RunningDevice:
    def __init__(self, cloud, folder, interval: float = 0.2) -> None:
        token = cloud.device_token(THING)
        self.transport = PahoTransport(Endpoint("127.0.0.1", cloud.mqtt_port, THING, token=token))
        self.client = DeviceClient(self.transport, Outbox(folder / "outbox.sqlite3", THING))
        self.agent = DeviceAgent(AgentSettings(THING, folder, "cloud", interval), self.client)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.agent.run, args=(self.stop,), daemon=True)
        self.thread.start()
        wait_for(lambda: self.client.connected, 20, "the device to connect")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(15)


@pytest.fixture
def device(cloud, tmp_path):
    running = RunningDevice(cloud, tmp_path / "device")
    yield running
    running.close()


def reported(data, cloud) -> dict:
    """The shadow document; no state yet before the device's first report (a 404)."""
    try:
        answer = data.get_thing_shadow(thingName=THING)
    except data.exceptions.ResourceNotFoundException:
        return {"state": {}}
    return json.loads(answer["payload"].read())


def test_a_desired_interval_set_from_the_cloud_is_adopted_and_reported(cloud, device):
    data = client("iot-data", cloud)
    wait_for(
        lambda: device.agent.shadow and "reported" in reported(data, cloud)["state"], 20, "a first report"
    )
    data.update_thing_shadow(
        thingName=THING, payload=json.dumps({"state": {"desired": {"samplingSeconds": 2}}})
    )
    wait_for(lambda: device.agent.interval == 2.0, 20, "the device to adopt the interval")
    wait_for(
        lambda: reported(data, cloud)["state"]["reported"].get("samplingSeconds") == 2, 20, "the report of it"
    )
    assert "delta" not in reported(data, cloud)["state"]  # desired and reported agree
    data.update_thing_shadow(
        thingName=THING, payload=json.dumps({"state": {"desired": {"samplingSeconds": -1}}})
    )
    wait_for(
        lambda: "delta" in reported(data, cloud)["state"], 20, "the refused desired state to stay a delta"
    )
    assert device.agent.interval == 2.0


def test_jobs_succeed_fail_with_a_reason_and_wait_for_a_device_that_was_away(cloud, tmp_path):
    iot = client("iot", cloud)
    arn = f"arn:aws:iot:us-east-1:000000000000:thing/{THING}"
    device = RunningDevice(cloud, tmp_path / "device")
    try:
        created = valid(
            "CreateJob",
            iot.create_job(
                jobId="interval-5",
                targets=[arn],
                document=json.dumps({"operation": "set-interval", "samplingSeconds": 5}),
            ),
        )
        assert created["jobArn"].endswith("job/interval-5")
        iot.create_job(
            jobId="interval-bad",
            targets=[arn],
            document=json.dumps({"operation": "set-interval", "samplingSeconds": "fast"}),
        )

        def status(job_id: str) -> str:
            return valid("DescribeJobExecution", iot.describe_job_execution(jobId=job_id, thingName=THING))[
                "execution"
            ]["status"]

        wait_for(lambda: status("interval-5") == "SUCCEEDED", 30, "the first job to succeed")
        wait_for(lambda: status("interval-bad") == "FAILED", 30, "the second job to fail")
        failed = iot.describe_job_execution(jobId="interval-bad", thingName=THING)["execution"]
        assert "samplingSeconds must be a number" in failed["statusDetails"]["detailsMap"]["reason"]
        assert device.agent.interval == 5.0
        job = valid("DescribeJob", iot.describe_job(jobId="interval-5"))["job"]
        assert job["status"] == "COMPLETED" and job["jobProcessDetails"]["numberOfSucceededThings"] == 1
    finally:
        device.close()
    iot.create_job(jobId="while-away", targets=[arn], document=json.dumps({"operation": "report"}))
    assert iot.describe_job_execution(jobId="while-away", thingName=THING)["execution"]["status"] == "QUEUED"
    device = RunningDevice(cloud, tmp_path / "device")
    try:
        wait_for(
            lambda: (
                iot.describe_job_execution(jobId="while-away", thingName=THING)["execution"]["status"]
                == "SUCCEEDED"
            ),
            30,
            "the job queued while the device was away to run once it is back",
        )
        details = iot.describe_job_execution(jobId="while-away", thingName=THING)["execution"][
            "statusDetails"
        ]
        assert details["detailsMap"]["interval"] == "5"  # it kept the interval across the restart
        listed = valid("ListJobExecutionsForJob", iot.list_job_executions_for_job(jobId="while-away"))
        assert listed["executionSummaries"][0]["thingArn"] == arn
    finally:
        device.close()


def test_a_bad_job_request_gets_iots_error(cloud):
    iot = client("iot", cloud)
    with pytest.raises(iot.exceptions.InvalidRequestException, match="document is not JSON"):
        iot.create_job(jobId="bad", targets=["arn:aws:iot:us-east-1:000000000000:thing/x"], document="{nope")
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_job(jobId="nothing-here")
