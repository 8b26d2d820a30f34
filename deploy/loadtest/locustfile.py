"""Locust load test for autoglm serve (or any OpenAI-compatible server): the phone-agent workload
(a shared system prompt, one fresh ~1 MB PNG screenshot per step, older screenshots dropped from the
history) and the short-chat workload (users waiting 1-3 s), streaming, with time to first token
reported as its own request type ("TTFT").

Debian:  apt-get install python3-locust
Run:     locust -f deploy/loadtest/locustfile.py --host http://127.0.0.1:8000 \
           --headless -u 16 -r 4 -t 60s AgentUser
Env:     AUTOGLM_MODEL (autoglm-phone-9b), AUTOGLM_API_KEY, AGENT_STEPS (5), AGENT_MAX_TOKENS (64),
         SCREEN_SIZE (1080x2400), CHAT_MAX_TOKENS (64)
`autoglm bench serve` runs the same workloads with percentiles, KPI rows and an HTML report.
"""
import base64
import json
import os
import random
import struct
import time
import zlib

from locust import HttpUser, between, constant, events, task

MODEL = os.environ.get("AUTOGLM_MODEL", "autoglm-phone-9b")
API_KEY = os.environ.get("AUTOGLM_API_KEY", "")
STEPS = int(os.environ.get("AGENT_STEPS", "5"))
AGENT_MAX_TOKENS = int(os.environ.get("AGENT_MAX_TOKENS", "64"))
CHAT_MAX_TOKENS = int(os.environ.get("CHAT_MAX_TOKENS", "64"))
WIDTH, HEIGHT = (int(v) for v in os.environ.get("SCREEN_SIZE", "1080x2400").split("x"))

SYSTEM_PROMPT = (
    "你是一个手机操作智能体，根据用户的任务和当前屏幕截图，一步一步地操作手机直到完成任务。"
    "每一步先在 <think> 与 </think> 之间写出思考，然后在 <answer> 与 </answer> 之间只输出一个动作："
    "do(action=\"Launch\", app=...)、do(action=\"Tap\", element=[x,y])、do(action=\"Type\", text=...)、"
    "do(action=\"Swipe\", start=[x1,y1], end=[x2,y2])、do(action=\"Back\")、do(action=\"Home\")、"
    "do(action=\"Wait\", duration=...)、do(action=\"Take_over\", message=...) 或 finish(message=...)。"
    "坐标是0到999的相对值。页面加载时先等待；出现弹窗先关闭；找不到目标先滑动查找；"
    "需要登录、验证或付款时请求用户接管；任务完成后立即结束并说明结果。" * 4
)
TASKS = ["打开微信，给张三发消息说今晚七点见", "在美团上搜索附近评分最高的火锅店",
         "打开设置，把屏幕亮度调到最高", "在淘宝搜索蓝牙耳机并按销量排序"]
CHAT_PROMPTS = ["讲个笑话", "介绍一下你自己", "写一首关于春天的短诗", "推荐三本适合周末读的书"]


def _chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def screenshot_png(width, height, rng):
    """A screen-like RGB PNG: flat bars and text-like rows, plus a noisy photo band (~1 MB)."""
    light = b"\xf6\xf6\xf8" * width
    dark = b"\x14\x14\x18" * width
    text = bytes(rng.choice((30, 246)) for _ in range(width)) * 3
    band_rows = max(1, height * 3 // 50)  # ~1 MB of noise at 1080x2400, as a real photo area
    band = os.urandom(width * 3 * band_rows)
    rows = []
    for y in range(height):
        if y < height // 32:
            row = dark
        elif height // 8 <= y < height // 8 + band_rows:
            k = y - height // 8
            row = band[k * width * 3:(k + 1) * width * 3]
        elif y % 40 < 12:
            row = text[:width * 3]
        else:
            row = light
        rows.append(b"\x00" + row)
    raw = zlib.compress(b"".join(rows), 6)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", raw) + \
        _chunk(b"IEND", b"")


def stream_chat(user, body, name):
    """POSTs a streamed chat request; reports TTFT as its own entry; returns the streamed text."""
    headers = {"Content-Type": "application/json"}
    if API_KEY:
        headers["Authorization"] = "Bearer " + API_KEY
    start = time.perf_counter()
    first = None
    text = []
    with user.client.post("/v1/chat/completions", data=json.dumps(body), headers=headers,
                          stream=True, catch_response=True, name=name) as resp:
        if resp.status_code != 200:
            resp.failure(f"HTTP {resp.status_code}: {resp.text[:200]}")
            return ""
        for line in resp.iter_lines():
            if not line or not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            event = json.loads(line[6:])
            for choice in event.get("choices", []):
                delta = choice.get("delta", {})
                piece = (delta.get("reasoning_content") or "") + (delta.get("content") or "")
                if piece and first is None:
                    first = time.perf_counter()
                text.append(piece)
        resp.success()
    if first is not None:
        events.request.fire(request_type="TTFT", name=name, response_time=(first - start) * 1e3,
                            response_length=0, exception=None, context={})
    return "".join(text)


class AgentUser(HttpUser):
    """One phone agent: STEPS steps of (fresh screenshot + task) -> streamed action, no pause."""
    wait_time = constant(0)

    def on_start(self):
        self.rng = random.Random(id(self))
        self.reset()

    def reset(self):
        self.task_text = self.rng.choice(TASKS)
        self.messages = [{"role": "system", "content": SYSTEM_PROMPT}]
        self.step = 0

    @task
    def step_once(self):
        png = screenshot_png(WIDTH, HEIGHT, self.rng)
        url = "data:image/png;base64," + base64.b64encode(png).decode()
        text = (self.task_text + "\n\n" if self.step == 0 else "") + \
            "** 屏幕信息 **\n{\"step\": %d}" % self.step
        self.messages.append({"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": text}]})
        body = {"model": MODEL, "messages": self.messages, "stream": True, "temperature": 0.0,
                "top_p": 0.85, "frequency_penalty": 0.2, "max_tokens": AGENT_MAX_TOKENS,
                "ignore_eos": True}
        reply = stream_chat(self, body, "agent step")
        # As the phone-agent client does: the screenshot leaves the history, the reply stays.
        self.messages[-1]["content"] = [p for p in self.messages[-1]["content"]
                                        if p["type"] == "text"]
        self.messages.append({"role": "assistant",
                              "content": "<think>" + reply + "</think><answer>do(action=\"Wait\")"
                                         "</answer>"})
        self.step += 1
        if self.step >= STEPS:
            self.reset()


class ChatUser(HttpUser):
    """The short-chat scenario: one prompt, temperature 0.7, then 1-3 s of reading."""
    wait_time = between(1, 3)

    @task
    def chat(self):
        body = {"model": MODEL, "stream": True, "temperature": 0.7, "max_tokens": CHAT_MAX_TOKENS,
                "messages": [{"role": "user", "content": random.choice(CHAT_PROMPTS)}]}
        stream_chat(self, body, "chat")
