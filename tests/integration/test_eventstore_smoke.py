from libs.eventstore import EventStore, Expected, NewEvent


async def test_append_and_read_back(store: EventStore) -> None:
    result = await store.append("thing-1", [NewEvent("ThingHappened", {"n": 1})], Expected.NO_STREAM)
    assert result.version == 0
    [event] = await store.read_all()
    assert event.stream_name == "thing-1" and event.data == {"n": 1}
