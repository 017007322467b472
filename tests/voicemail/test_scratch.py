import asyncio, json, wave, io, os
import pytest
from controller import channel_vars as cv
pytestmark = pytest.mark.asyncio(loop_scope="session")

async def test_explore(controller, settings):
    ari = controller.ari
    events = []
    async def on_any(e):
        if e.get("type") not in ("ChannelVarset",):
            events.append(e)
    ari.on("*", on_any)
    started = asyncio.Event()
    chan = {}
    async def on_start(e):
        if e.get("args") == ["test"]:
            chan["id"] = e["channel"]["id"]
            started.set()
    ari.on("StasisStart", on_start)
    await controller.ami.originate(f"Local/stasis@{cv.CTX_TEST}", context=cv.CTX_TEST, exten="vmcaller",
                                   variables={"VOIP_TEST_WAIT": "1", "VOIP_TEST_SOUND": "vm-intro"}, wait=5) if False else None
    asyncio.create_task(controller.ami.originate(f"Local/stasis@{cv.CTX_TEST}", context=cv.CTX_TEST, exten="vmcaller",
                                   variables={"VOIP_TEST_WAIT": "1", "VOIP_TEST_SOUND": "vm-intro"}, wait=5))
    await asyncio.wait_for(started.wait(), 10)
    cid = chan["id"]
    await ari.post(f"/channels/{cid}/answer")
    await ari.post(f"/channels/{cid}/play/pb1", media="sound:beep,digits:12,number:5")
    await asyncio.sleep(0.2)
    await ari.post(f"/channels/{cid}/record", name="scratch-rec", format="wav", maxDurationSeconds=20,
                   maxSilenceSeconds=3, ifExists="overwrite", beep=True, terminateOn="#")
    for _ in range(200):
        if any(e["type"] in ("RecordingFinished", "RecordingFailed") for e in events):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)
    for e in events:
        e2 = {k: v for k, v in e.items() if k not in ("channel", "asterisk_id", "application")}
        print(json.dumps(e2)[:400])
    data = await ari.get("/recordings/stored/scratch-rec/file")
    print(type(data), len(data))
    w = wave.open(io.BytesIO(data))
    print(w.getparams(), w.getnframes() / w.getframerate())
    print(await ari.get("/recordings/stored"))
    await ari.delete("/recordings/stored/scratch-rec")
