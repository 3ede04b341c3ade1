"""Arithmetic expressions: a tokenizer, a recursive-descent parser and an evaluator with variables."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Union

TOKEN = re.compile(r"\s*(?:(\d+\.\d*|\.\d+|\d+)|([A-Za-z_]\w*)|(\*\*|[-+*/%(),^]))")
FUNCTIONS = {"sqrt": math.sqrt, "abs": abs, "min": min, "max": max, "round": round}


class ParseError(ValueError):
    pass


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class BinOp:
    op: str
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Neg:
    operand: "Node"


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple["Node", ...]


Node = Union[Num, Var, BinOp, Neg, Call]


def tokenize(text: str) -> list[str]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if not match:
            raise ParseError(f"unexpected character {text[pos]!r} at {pos}")
        tokens.append(next(group for group in match.groups() if group))
        pos = match.end()
    return tokens


class Parser:
    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise ParseError(f"expected {expected or 'a token'}, got {token!r}")
        self.pos += 1
        return token

    def parse(self) -> Node:
        node = self.expression()
        if self.peek() is not None:
            raise ParseError(f"unexpected {self.peek()!r}")
        return node

    def expression(self) -> Node:
        node = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            node = BinOp(op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.factor()
        while self.peek() in ("*", "/", "%"):
            op = self.take()
            node = BinOp(op, node, self.factor())
        return node

    def factor(self) -> Node:
        if self.peek() == "-":
            self.take()
            return Neg(self.factor())
        base = self.atom()
        if self.peek() in ("**", "^"):
            self.take()
            return BinOp("**", base, self.factor())  # right-associative
        return base

    def atom(self) -> Node:
        token = self.take()
        if token == "(":
            node = self.expression()
            self.take(")")
            return node
        if token[0].isdigit() or token[0] == ".":
            return Num(float(token))
        if token[0].isalpha() or token[0] == "_":
            if self.peek() == "(":
                self.take("(")
                args = [] if self.peek() == ")" else [self.expression()]
                while self.peek() == ",":
                    self.take(",")
                    args.append(self.expression())
                self.take(")")
                return Call(token, tuple(args))
            return Var(token)
        raise ParseError(f"unexpected {token!r}")


def evaluate(node: Node, env: dict[str, float] | None = None) -> float:
    env = env or {}
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Var):
        if node.name not in env:
            raise NameError(f"undefined variable {node.name}")
        return env[node.name]
    if isinstance(node, Neg):
        return -evaluate(node.operand, env)
    if isinstance(node, Call):
        if node.name not in FUNCTIONS:
            raise NameError(f"unknown function {node.name}")
        return FUNCTIONS[node.name](*(evaluate(arg, env) for arg in node.args))
    left, right = evaluate(node.left, env), evaluate(node.right, env)
    if node.op == "+":
        return left + right
    if node.op == "-":
        return left - right
    if node.op == "*":
        return left * right
    if node.op == "/":
        if right == 0:
            raise ZeroDivisionError("division by zero")
        return left / right
    if node.op == "%":
        return left % right
    return left ** right


def calculate(text: str, **env: float) -> float:
    return evaluate(Parser(tokenize(text)).parse(), env)
