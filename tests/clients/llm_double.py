"""A local test double of an OpenAI-compatible chat-completions endpoint (the only outside
service dyntag talks to). It prints its port, then answers POST /v1/chat/completions by the
requested model: `good` (valid JSON prompts naming the tag; for a question about an image, a
yes/no that depends on the image bytes), `garbage` (not JSON; for an image, neither yes nor
no), `slow` (answers after 5 s), `error` (HTTP 500). It checks that each request asks for a JSON
object and carries the bearer key, and answers 400 otherwise.
"""

import json
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        if self.path != "/v1/chat/completions":
            return self.answer(404, {"error": "no such route"})
        req = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        if req.get("response_format", {}).get("type") != "json_object":
            return self.answer(400, {"error": "response_format must ask for a JSON object"})
        if self.headers.get("authorization") != "Bearer test-key":
            return self.answer(400, {"error": "missing bearer key"})
        model = req.get("model")
        user = req["messages"][-1]["content"]
        if isinstance(user, list):
            images = [p["image_url"]["url"] for p in user if p.get("type") == "image_url"]
            if len(images) != 1 or not images[0].startswith("data:image/jpeg;base64,"):
                return self.answer(400, {"error": "expected one JPEG image as a data URL"})
            answer = "perhaps" if model == "garbage" else ("yes" if len(images[0]) % 2 == 0 else "no")
            content = json.dumps({"answer": answer})
            return self.answer(200, {"choices": [{"message": {"role": "assistant", "content": content}}]})
        tag = re.search(r'Tag: "([^"]+)"', user).group(1)
        if model == "slow":
            time.sleep(5)
        if model == "error":
            return self.answer(500, {"error": "the model is overloaded"})
        content = "not json at all" if model == "garbage" else json.dumps(
            {"prompts": [f"a {tag} in action", f"close-up of a {tag}", "", f"people watching {tag}"]})
        self.answer(200, {"choices": [{"message": {"role": "assistant", "content": content}}]})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
