#!/usr/bin/env python3
"""A stand-in engine *process* for life-cycle tests of the server manager: it is spawned
the way the real program would be and only answers the readiness and model routes.

  uzu server --model NAME --host H --port P   (Uzu 0.5.x: NAME is a model folder inside
                                               $LOCAL_PATH; a full path, or no LOCAL_PATH,
                                               fails at start with "Model not found")
  uzu_cli serve PATH --port P                 (Uzu 0.1.x: a path)
  ollama serve                                (address from OLLAMA_HOST)

Every invocation appends its argv and its OLLAMA_* / LOCAL_PATH environment to
argv.jsonl in the folder it was started from (tests start it through a link in their own
temporary folder, so no test needs to set an environment variable).
"""
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

argv = sys.argv[1:]
log = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), "argv.jsonl")
with open(log, "a") as f:
    env = {k: v for k, v in os.environ.items() if k.startswith("OLLAMA_") or k == "LOCAL_PATH"}
    f.write(json.dumps({"prog": os.path.basename(sys.argv[0]), "pid": os.getpid(), "argv": argv, "env": env}) + "\n")


def opt(name, default=None):
    return argv[argv.index(name) + 1] if name in argv else default


host, port, mode = "127.0.0.1", None, None
if argv[:1] == ["server"]:
    mode, port = "uzu", int(opt("--port", "8000"))
    host = opt("--host", host)
    model = opt("--model")
    local = os.environ.get("LOCAL_PATH")
    if (not model or os.path.isabs(model) or not local
            or not os.path.isfile(os.path.join(local, model, "config.json"))):
        sys.exit(f"Error: Model not found: {model}")
elif argv[:1] == ["serve"] and len(argv) > 1 and not argv[1].startswith("-"):
    mode, port = "uzu", int(opt("--port", "8000"))
    if not os.path.isdir(argv[1]):
        sys.exit(f"error: model {argv[1]} not found")
elif argv[:1] == ["serve"]:
    mode = "ollama"
    host, _, p = os.environ.get("OLLAMA_HOST", "127.0.0.1:11434").rpartition(":")
    port = int(p)
else:
    sys.exit(f"usage error: {argv}")

if mode == "uzu":
    time.sleep(0.5)  # Uzu loads the model before binding the port


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, code, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if mode == "uzu" and self.path in ("/v1/models", "/models"):
            return self.reply(200, {"object": "list", "data": [{"id": "fake"}]})
        if mode == "ollama" and self.path == "/":
            return self.reply(200, "Ollama is running", "text/plain")
        self.reply(404, {"error": "not found"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(n) or b"{}")
        if mode == "ollama" and self.path == "/api/show":
            if body.get("model") == "gemma-3-270m-bench":
                return self.reply(200, {"details": {"format": "gguf"}})
            return self.reply(404, {"error": f"model '{body.get('model')}' not found"})
        if mode == "ollama" and self.path == "/api/generate" and not body.get("prompt"):
            # An empty generate loads the model (Ollama answers done_reason "load").
            time.sleep(0.3)
            return self.reply(200, {"model": body.get("model"), "response": "", "done": True,
                                    "done_reason": "load"})
        self.reply(404, {"error": "not found"})


HTTPServer((host, port), H).serve_forever()
