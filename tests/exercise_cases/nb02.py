"""Notebook 02: a POST request with a JSON body, written by hand."""

CASES = {
    "e1d3a942": {
        "starter_hint": "is a return statement missing?",
        "wrong": [
            # Python's \n instead of HTTP's \r\n
            ("import json\n\n"
             "def make_request(host, port, name):\n"
             "    body = json.dumps({\"name\": name})\n"
             "    return (f\"POST /items HTTP/1.1\\nHost: {host}:{port}\\nContent-Type: application/json\\n\"\n"
             "            f\"Content-Length: {len(body)}\\nConnection: close\\n\\n{body}\").encode()\n",
             "alone, never with CRLF"),
            # Content-Length counts the name, not the body
            ("import json\n\n"
             "def make_request(host, port, name):\n"
             "    body = json.dumps({\"name\": name})\n"
             "    return (f\"POST /items HTTP/1.1\\r\\nHost: {host}:{port}\\r\\nContent-Type: application/json\\r\\n\"\n"
             "            f\"Content-Length: {len(name)}\\r\\nConnection: close\\r\\n\\r\\n{body}\").encode()\n",
             "Content-Length is the number of bytes"),
            # no Host header (this development server answers anyway; HTTP/1.1 requires it)
            ("import json\n\n"
             "def make_request(host, port, name):\n"
             "    body = json.dumps({\"name\": name})\n"
             "    return (f\"POST /items HTTP/1.1\\r\\nContent-Type: application/json\\r\\n\"\n"
             "            f\"Content-Length: {len(body)}\\r\\nConnection: close\\r\\n\\r\\n{body}\").encode()\n",
             "Add the line Host:"),
            # the empty line between the headers and the body is missing
            ("import json\n\n"
             "def make_request(host, port, name):\n"
             "    body = json.dumps({\"name\": name})\n"
             "    return (f\"POST /items HTTP/1.1\\r\\nHost: {host}:{port}\\r\\nContent-Type: application/json\\r\\n\"\n"
             "            f\"Content-Length: {len(body)}\\r\\nConnection: close\\r\\n{body}\").encode()\n",
             "(the empty line)"),
        ],
    },
}
