"""The replies `.ci/run`'s fake model gives Claude Code for the README's first command
(`examples/seeds/hello.yaml`): write the project in one turn, then say it is done."""
import json
import sys

root = sys.argv[1]
files = {
    "Cargo.toml": '[package]\nname = "hello"\nversion = "0.1.0"\nedition = "2021"\n\n[workspace]\n',
    "src/main.rs": (
        "fn main() {\n"
        "    match std::env::args().nth(1) {\n"
        '        Some(name) => println!("Hello, {name}!"),\n'
        "        None => {\n"
        '            eprintln!("usage: hello NAME");\n'
        "            std::process::exit(2);\n"
        "        }\n"
        "    }\n"
        "}\n"
    ),
    "README.md": "# hello\n\nGreets someone by name:\n\n    $ hello Ada\n    Hello, Ada!\n",
    ".gitignore": "/target\n",
}
calls = [
    {"name": "Write", "input": {"file_path": f"{root}/{path}", "content": text}}
    for path, text in files.items()
]
json.dump(
    {
        "replies": [{"tool_calls": calls}, {"text": "DONE: the project is written"}],
        "fallback": {"text": "DONE: already done"},
        "untooled": {"text": "ok"},
    },
    sys.stdout,
)
