"""Topics of Communities (service million_group_open_http_svc): reading, creating, changing and
destroying them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ValidationError

from reconciler.state import Topic
from reconciler.tim.errors import GROUP_GONE_CODES, MALFORMED, TOPIC_GONE_CODES, TimApiError
from reconciler.tim.limits import TOPIC_SVC, topic_id, topic_suffix
from reconciler.tim.wire.common import Outcome, Request, item_errors, listed, malformed

if TYPE_CHECKING:
    from reconciler.tim.client import TimClient

SERVICE = TOPIC_SVC
COMMANDS = ("create_topic", "modify_topic", "destroy_topic", "get_topic")

# Topic attributes: config name -> wire name (create_topic and modify_topic alike).
TOPIC_WIRE = {
    "name": "TopicName",
    "introduction": "Introduction",
    "notification": "Notification",
    "face_url": "FaceUrl",
    "custom_string": "CustomString",
}


def topics_from_api(group_id: str, answer: dict) -> dict[str, Topic]:
    """get_topic: TopicInfo items -> topic (the custom part of its ID) -> Topic. Items with a
    non-zero ErrorCode (a topic asked for that does not exist) are left out."""
    topics: dict[str, Topic] = {}
    items = listed(answer, f"{SERVICE}/get_topic", "TopicInfo")
    try:
        for item in items:
            if item.get("ErrorCode", 0):
                continue
            full = item["TopicId"]
            suffix = topic_suffix(group_id, full)
            if suffix is None:
                raise ValueError(f"topic {full!r} is not a topic of this group")
            mute = item.get("MuteAllMember", item.get("ShutUpAllMember"))
            topics[suffix] = Topic(
                id=suffix,
                name=item.get("TopicName", ""),
                introduction=item.get("Introduction", ""),
                notification=item.get("Notification", ""),
                face_url=item.get("FaceUrl", ""),
                custom_string=item.get("CustomString", ""),
                mute_all=mute == "On",
            )
    except (*MALFORMED, ValidationError) as err:
        raise malformed(group_id, "get_topic", err) from None
    return topics


async def get_topic(
    client: TimClient, group_id: str, topic_ids: list[str] | None = None
) -> dict[str, Topic]:
    """Every topic of a Community with topics (or those of ``topic_ids``), by the custom part
    of their IDs: one call. From_Account (required) is the admin identifier."""
    body: dict[str, Any] = {"GroupId": group_id, "From_Account": client.admin}
    if topic_ids:
        body["TopicIdList"] = list(topic_ids)
    return topics_from_api(group_id, await client.call(SERVICE, "get_topic", body))


async def create_topic(client: TimClient, body: dict[str, Any]) -> None:
    await client.call(SERVICE, "create_topic", body)


async def modify_topic(client: TimClient, body: dict[str, Any]) -> None:
    await client.call(SERVICE, "modify_topic", body)


async def destroy_topic(client: TimClient, group_id: str, topic_ids: list[str]) -> None:
    """Destroy topics of a Community; one already gone counts as done (the call's code, or an
    item's own ErrorCode, like get_group_info's)."""
    client.check_batch("destroy_topic", topic_ids)
    if not topic_ids:
        return
    body = {"GroupId": group_id, "TopicIdList": list(topic_ids)}
    try:
        answer = await client.call(SERVICE, "destroy_topic", body)
    except TimApiError as err:
        if err.code not in TOPIC_GONE_CODES:
            raise
        return
    item_errors(f"{SERVICE}/destroy_topic", answer, "DestroyResultItem", TOPIC_GONE_CODES)


def _topic_body(request: CreateTopic | ModifyTopic) -> dict[str, Any]:
    body: dict[str, Any] = {
        "GroupId": request.group_id,
        "TopicId": topic_id(request.group_id, request.topic),
    }
    for name, wire in TOPIC_WIRE.items():
        if getattr(request, name) is not None:
            body[wire] = getattr(request, name)
    return body


@dataclass
class CreateTopic(Request):
    """A topic of a Community with topics, under its custom ID (``topic`` is the part after
    "@TOPIC#_"). create_topic carries no mute-all: a muted topic is modified after."""

    api: ClassVar[str] = "create_topic"
    group_id: str
    topic: str
    name: str
    introduction: str | None = None
    notification: str | None = None
    face_url: str | None = None
    custom_string: str | None = None

    async def send(self, client: TimClient) -> Outcome:
        try:
            await create_topic(client, _topic_body(self))
        except TimApiError as err:
            # A retried or interrupted create may have made it: look before failing.
            if err.code in GROUP_GONE_CODES or err.transient:
                raise
            live = await get_topic(client, self.group_id, [topic_id(self.group_id, self.topic)])
            if not live:
                raise
            return Outcome(existed=True)
        return Outcome()


@dataclass
class ModifyTopic(Request):
    """A topic's attributes; ``None`` = unchanged."""

    api: ClassVar[str] = "modify_topic"
    group_id: str
    topic: str
    name: str | None = None
    introduction: str | None = None
    notification: str | None = None
    face_url: str | None = None
    custom_string: str | None = None
    mute_all: bool | None = None

    async def send(self, client: TimClient) -> Outcome:
        body = _topic_body(self)
        if self.mute_all is not None:
            body["MuteAllMember"] = "On" if self.mute_all else "Off"  # CN-78205
        await modify_topic(client, body)
        return Outcome()


@dataclass
class DestroyTopics(Request):
    """Destroy topics of a Community (``topics``: the custom parts of their IDs)."""

    api: ClassVar[str] = "destroy_topic"
    group_id: str
    topics: list[str]

    @property
    def count(self) -> int:
        return len(self.topics)

    async def send(self, client: TimClient) -> Outcome:
        await destroy_topic(
            client, self.group_id, [topic_id(self.group_id, t) for t in self.topics]
        )
        return Outcome()
