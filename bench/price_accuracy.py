#!/usr/bin/env python
"""Price accuracy: our cost of each call in a hand-priced golden set, next to genai-prices and LiteLLM.

    python bench/price_accuracy.py [--golden bench/golden_prices.yaml] [--all]

Ours: the ingestion path, otel_llmcost.pricing.quote.quote() (an LlmCall into price_call()) with the
bundled price book. genai-prices and LiteLLM are optional; when absent their column says "n/a".
Exact match: the cost equals the golden `expected_usd` after both are rounded half-even to 10 decimal
places (so LiteLLM's binary floats are not penalised for noise below 1e-10 USD). A tool that cannot price
a case (unknown model, error, or 0 for a non-zero golden cost) misses it.

Usage mapping from our convention (input includes cache reads/writes and audio input; output includes
reasoning and audio output):
  genai-prices uses the same convention: Usage(input_tokens, cache_read_tokens, cache_write_tokens,
    cache_write_1h_tokens, input_audio_tokens, output_tokens, output_reasoning_tokens, output_audio_tokens),
    genai_request_timestamp = the call's time, price_context {service_tier: flex|priority} or
    {processing: batch}.
  LiteLLM: Usage(prompt_tokens=input, completion_tokens=output, prompt_tokens_details{cached_tokens,
    cache_creation_tokens + 5m/1h split, audio_tokens}, completion_tokens_details{reasoning_tokens,
    audio_tokens}) -> cost_per_token(service_tier=flex|priority), or batch_cost_calculator for batch. Its
    bundled cost map is used (LITELLM_LOCAL_MODEL_COST_MAP); it takes no call time, so it prices at its
    current rates.
Always exits 0: a benchmark, not a test.
"""

import argparse
import logging
import os
import sys
import warnings
from collections import defaultdict
from datetime import datetime, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import yaml

from otel_llmcost.kinds import COUNTS

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
warnings.filterwarnings("ignore")
TOOLS = ("ours", "genai-prices", "LiteLLM")
KINDS = COUNTS  # every usage count a golden case may give
GENAI_PROVIDER = {"openai": "openai", "anthropic": "anthropic", "gcp.gemini": "google", "gcp.vertex_ai": "google",
                  "aws.bedrock": "aws", "azure.ai.openai": "azure", "mistral_ai": "mistral", "cohere": "cohere",
                  "deepseek": "deepseek", "x_ai": "x-ai", "groq": "groq", "together_ai": "together"}
LITELLM_PROVIDER = {"openai": "openai", "anthropic": "anthropic", "gcp.gemini": "gemini", "gcp.vertex_ai": "vertex_ai",
                    "aws.bedrock": "bedrock", "azure.ai.openai": "azure", "mistral_ai": "mistral",
                    "cohere": "cohere_chat", "deepseek": "deepseek", "x_ai": "xai", "groq": "groq",
                    "together_ai": "together_ai"}


def q(amount) -> Decimal:
    return Decimal(str(amount)).quantize(Decimal("1e-10"), rounding=ROUND_HALF_EVEN)


def fmt(amount) -> str:
    return "-" if amount is None else format(Decimal(amount).normalize(), "f")


def golden_parts(price: dict, u: dict) -> dict[str, Decimal]:
    """The golden cost by kind (the rule in the golden file's header), grouped like our Cost's columns."""
    p = {k: Decimal(str(v)) for k, v in price.items() if k not in ("source", "as_of", "note", "doubt")}
    if u["web_searches"] and "per_search" not in p:
        raise ValueError("a case with web searches needs a price row with per_search")
    def cost(tokens, kind, fallback="input"):
        return tokens * p.get(kind, p[fallback]) / 1_000_000
    w1h, w5m = u["cache_write_1h_tokens"], u["cache_write_tokens"] - u["cache_write_1h_tokens"]
    uncached = (u["input_tokens"] - u["cache_read_tokens"] - u["cache_write_tokens"] - u["audio_input_tokens"]
                - u["image_input_tokens"])
    text_out = u["output_tokens"] - u["reasoning_tokens"] - u["audio_output_tokens"] - u["image_output_tokens"]
    return {"input": cost(uncached, "input"), "cache_read": cost(u["cache_read_tokens"], "cache_read"),
            "cache_write": cost(w5m, "cache_write") + cost(w1h, "cache_write_1h"),
            "output": cost(text_out, "output"), "reasoning": cost(u["reasoning_tokens"], "reasoning", "output"),
            "audio": cost(u["audio_input_tokens"], "audio_input") + cost(u["audio_output_tokens"], "audio_output",
                                                                        "output"),
            "image": cost(u["image_input_tokens"], "image_input") + cost(u["image_output_tokens"], "image_output",
                                                                        "output"),
            "search": u["web_searches"] * p.get("per_search", Decimal(0))}


def load_ours():
    from otel_llmcost.pricing import load_price_book, quote

    book = load_price_book()
    return lambda c: quote(book, c["provider"], c["model"], c["usage"], c["at"], c.get("service_tier", ""))


def load_genai():
    from genai_prices import Usage, calc_price
    names = {"audio_input_tokens": "input_audio_tokens", "reasoning_tokens": "output_reasoning_tokens",
             "audio_output_tokens": "output_audio_tokens", "image_input_tokens": "input_image_tokens",
             "image_output_tokens": "output_image_tokens"}

    def price(c):
        usage = Usage(**{names.get(k, k): v for k, v in c["usage"].items() if v})
        tier = c.get("service_tier", "")
        context = {"processing": "batch"} if tier == "batch" else {"service_tier": tier} if tier else None
        return calc_price(usage, c["model"], provider_id=GENAI_PROVIDER[c["provider"]],
                          genai_request_timestamp=c["at"], price_context=context).total_price
    return price


def load_litellm():
    import litellm
    from litellm.cost_calculator import batch_cost_calculator
    from litellm.types.utils import Usage
    litellm.suppress_debug_info = True
    logging.getLogger("LiteLLM").setLevel(logging.CRITICAL)

    def price(c):
        u, provider, tier = c["usage"], LITELLM_PROVIDER[c["provider"]], c.get("service_tier") or None
        w1h = u["cache_write_1h_tokens"]
        usage = Usage(
            prompt_tokens=u["input_tokens"], completion_tokens=u["output_tokens"],
            total_tokens=u["input_tokens"] + u["output_tokens"],
            prompt_tokens_details={
                "cached_tokens": u["cache_read_tokens"], "audio_tokens": u["audio_input_tokens"],
                "image_tokens": u["image_input_tokens"],
                "cache_creation_tokens": u["cache_write_tokens"], "cache_creation_token_details": {
                    "ephemeral_5m_input_tokens": u["cache_write_tokens"] - w1h, "ephemeral_1h_input_tokens": w1h}},
            completion_tokens_details={"reasoning_tokens": u["reasoning_tokens"],
                                       "audio_tokens": u["audio_output_tokens"],
                                       "image_tokens": u["image_output_tokens"]},
            cache_read_input_tokens=u["cache_read_tokens"], cache_creation_input_tokens=u["cache_write_tokens"],
            server_tool_use={"web_search_requests": u["web_searches"]} if u["web_searches"] else None)
        if tier == "batch":
            return sum(batch_cost_calculator(usage=usage, model=c["model"], custom_llm_provider=provider))
        return sum(litellm.cost_per_token(model=c["model"], custom_llm_provider=provider, usage_object=usage,
                                          service_tier=tier))
    return price


def explain(case, cost) -> str:
    """Why our cost is not the golden one: status, tier handling, and which kinds differ."""
    if cost.cost_usd is None:
        return f"{cost.status}: {cost.note}"
    reasons, tier, long = [], case.get("service_tier", ""), "#long" in case["price"]
    if tier and "service-tier" in cost.note:
        reasons.append(f"service tier {tier!r} not applied (standard rate used)")
    elif cost.status == "estimated":
        reasons.append(f"estimated: {cost.note}")
    if long and not cost.price_tier:
        reasons.append("context-length tier not applied (base rates used)")
    elif cost.price_tier and not long:
        reasons.append(f"context tier {cost.price_tier} applied, golden uses base rates")
    got = {"input": cost.input_cost_usd, "cache_read": cost.cache_read_cost_usd,
           "cache_write": cost.cache_write_cost_usd,
           "output": cost.output_cost_usd, "reasoning": cost.reasoning_cost_usd, "audio": cost.audio_cost_usd,
           "image": cost.image_cost_usd, "search": cost.search_fee_usd}
    diffs = [f"{k} {fmt(q(v))}->{fmt(q(got[k] or 0))}" for k, v in case["parts"].items() if q(v) != q(got[k] or 0)]
    if cost.request_fee_usd:
        diffs.append(f"request fee {fmt(cost.request_fee_usd)}")
    return "; ".join(reasons + [", ".join(diffs) or "rounding"]) + f" [{cost.price_id}]"


def run(name, fn, case):
    """(cost rounded to 10 places or None, why it is not the golden cost)."""
    try:
        got = fn(case)
    except Exception as exc:  # unknown model, unsupported provider...
        return None, f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:100]}"
    if name == "ours":
        amount = None if got.cost_usd is None else q(got.cost_usd)
        if amount == q(case["expected_usd"]):
            return amount, f"estimated: {got.note}" if got.status == "estimated" else ""
        return amount, explain(case, got)
    if not got and Decimal(case["expected_usd"]):
        return None, "priced at 0"
    return q(got), ""


def load_cases(path: str):
    golden = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    prices, cases, inconsistent = golden["prices"], golden["cases"], []
    for c in cases:
        c["usage"] = {k: int(c["usage"].get(k, 0)) for k in KINDS}
        at = c["at"] if isinstance(c["at"], datetime) else datetime.fromisoformat(str(c["at"]).replace("Z", "+00:00"))
        c["at"] = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
        c["parts"] = golden_parts(prices[c["price"]], c["usage"])
        if sum(c["parts"].values()) != Decimal(c["expected_usd"]):  # self-check of the golden arithmetic
            inconsistent.append(f"{c['id']}: expected_usd {c['expected_usd']} != {sum(c['parts'].values())}")
    return prices, cases, inconsistent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--golden", default=str(Path(__file__).with_name("golden_prices.yaml")))
    parser.add_argument("--all", action="store_true", help="list every case, not only our mismatches")
    args = parser.parse_args()
    prices, cases, inconsistent = load_cases(args.golden)

    tools, missing = {}, {}
    for name, loader in zip(TOOLS, (load_ours, load_genai, load_litellm), strict=True):
        try:
            tools[name] = loader()
        except ImportError as exc:
            missing[name] = f"not installed ({exc.name})"
    results = {c["id"]: {name: run(name, fn, c) for name, fn in tools.items()} for c in cases}

    def hit(c, name):
        got = results[c["id"]].get(name, (None, ""))[0]
        return got is not None and got == q(c["expected_usd"])

    by_provider = defaultdict(list)
    for c in cases:
        by_provider[c["provider"]].append(c)
    print(f"Price accuracy: {len(cases)} golden calls, {len(by_provider)} providers ({args.golden})")
    print("exact = equal to the golden USD after rounding half-even to 10 decimal places\n")
    head = f"{'provider':<16}{'cases':>6}" + "".join(f"{n:>20}" for n in TOOLS)
    rule = "-" * len(head)
    print(f"{head}\n{rule}")
    for provider, group in sorted(by_provider.items()) + [("ALL", cases)]:
        hits = {n: sum(hit(c, n) for c in group) for n in TOOLS}
        size = len(group)
        cells = [f"{'n/a':>20}" if n in missing else f"{hits[n]:>7}/{size:<3} ({100 * hits[n] / size:5.1f}%)"
                 for n in TOOLS]
        print(("" if provider != "ALL" else rule + "\n") + f"{provider:<16}{len(group):>6}" + "".join(cells))
    for n, why in missing.items():
        print(f"{n}: {why}")

    shown = [c for c in cases if args.all or not hit(c, "ours")]
    print(f"\n{'All cases' if args.all else 'Our mismatches'} ({len(shown)}): "
          "id provider model [tier] expected -> ours: reason [price id]   (the other tools' costs)")
    for c in shown:
        got, why = results[c["id"]].get("ours", (None, "not run"))
        tier = f" [{c['service_tier']}]" if c.get("service_tier") else ""
        others = "  ".join(f"{n}={fmt(results[c['id']][n][0])}" for n in TOOLS[1:] if n in tools)
        print(f"  {c['id']} {c['provider']} {c['model']}{tier} {c['expected_usd']} -> {fmt(got)}: {why or 'ok'}"
              f"\n        ({others})")

    estimated = [c["id"] for c in cases if hit(c, "ours") and results[c["id"]]["ours"][1]]
    print(f"\nRight, but marked estimated by ours ({len(estimated)}): {' '.join(estimated) or 'none'}")
    for note in sorted({results[i]["ours"][1] for i in estimated}):
        print(f"  {note}")

    if {"genai-prices", "LiteLLM"} <= tools.keys():
        agree = [c["id"] for c in cases if not hit(c, "genai-prices")
                 and results[c["id"]]["genai-prices"][0] is not None
                 and results[c["id"]]["genai-prices"][0] == results[c["id"]]["LiteLLM"][0]]
        print(f"\nGolden values both genai-prices and LiteLLM contradict, with the same cost ({len(agree)}): "
              f"{' '.join(agree) or 'none'}")
    flagged = [f"{k}: {v['doubt']}" for k, v in prices.items() if v.get("doubt")]
    print("Golden price rows marked doubtful:" + "".join(f"\n  {line}" for line in flagged or ["none"]))
    print(f"Golden self-check: {'OK' if not inconsistent else 'INCONSISTENT: ' + '; '.join(inconsistent)}")
    summary = "  ".join(f"{n} n/a" if n in missing else
                        f"{n} {sum(hit(c, n) for c in cases)}/{len(cases)} "
                        f"({100 * sum(hit(c, n) for c in cases) / len(cases):.1f}%)" for n in TOOLS)
    print(f"\nSUMMARY exact-match on {len(cases)} golden calls: {summary}")


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # a benchmark reports; it does not fail the build
        print(f"SUMMARY benchmark error: {type(exc).__name__}: {exc}")
    sys.exit(0)
