"""LiteLLM's model price map, the secondary source of the bundled price book.

Part of scripts/build_price_book.py.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections import Counter
from decimal import Decimal
from pathlib import Path

from genai_names import bare_id
from genai_source import DEFAULT_EFFECTIVE_FROM, OUT_FIELDS, dec, spec

# ---- LiteLLM: the secondary source ------------------------------------------------------------------------
# LiteLLM's model price map fills only what genai-prices lacks (audio rates, context-length tiers, batch/flex/
# priority prices, models genai-prices does not list). It never replaces a genai-prices price: where both price
# the same provider/model/kind differently, genai-prices' price is kept and the disagreement goes to stderr.
# LiteLLM keeps one current price per name and no history, so what it adds to a genai-prices model is dated
# from genai-prices' current price version of that model (and only added when LiteLLM's input and output
# prices equal that version's: otherwise LiteLLM's extras belong to some other price); a model genai-prices
# lacks starts at DEFAULT_EFFECTIVE_FROM. Its entries' ids end in "~litellm".
LITELLM_JSON = "litellm/model_prices_and_context_window_backup.json"
# LiteLLM litellm_provider -> (genai-prices provider to resolve its names in, our price_id prefix, OTel names).
# Vertex AI's partner-model providers (vertex_ai-anthropic_models, ...) are all "vertex_ai" here.
LITELLM_PROVIDERS = {
    "openai": ("openai", "openai", ["openai"]),
    "anthropic": ("anthropic", "anthropic", ["anthropic"]),
    "vertex_ai": ("google", "gcp/vertex", ["gcp.vertex_ai"]),
    "gemini": ("google", "gcp/gemini", ["gcp.gemini"]),
    "bedrock": ("aws", "bedrock", ["aws.bedrock"]),
    "bedrock_converse": ("aws", "bedrock", ["aws.bedrock"]),
    "azure": ("azure", "azure", ["azure.ai.openai"]),
    "mistral": ("mistral", "mistral", ["mistral_ai"]),
    "cohere": ("cohere", "cohere", ["cohere"]),
    "cohere_chat": ("cohere", "cohere", ["cohere"]),
    "deepseek": ("deepseek", "deepseek", ["deepseek"]),
    "xai": ("x-ai", "xai", ["x_ai"]),
    "groq": ("groq", "groq", ["groq"]),
    "together_ai": ("together", "together", ["together_ai"]),
}
LITELLM_SAME = {"bedrock_converse": "bedrock", "cohere_chat": "cohere"}  # one provider, two LiteLLM APIs: merged
# Where a model id itself has a "/" (org/model). Elsewhere a "/" left after the provider prefix is a route,
# region or commitment path (azure/eu/..., bedrock/us-east-1/..., bedrock/invoke/...): not a list price we use.
LITELLM_SLASH_NAMES = {"vertex_ai", "groq", "together_ai"}
LITELLM_MODES = {"chat", "completion", "responses", "embedding"}  # token-priced calls; not images, speech, ...
# LiteLLM per-token price key stem -> our field. A key is stem [_above_<N>k_tokens] [_batches|_flex|_priority].
LITELLM_FIELDS = {
    "input_cost_per_token": "input",
    "output_cost_per_token": "output",
    "cache_read_input_token_cost": "cache_read",
    "cache_creation_input_token_cost": "cache_write",  # Anthropic: the 5-minute rate
    "cache_creation_input_token_cost_above_1hr": "cache_write_1h",
    "input_cost_per_audio_token": "audio_input",
    "output_cost_per_audio_token": "audio_output",
    "output_cost_per_reasoning_token": "reasoning",
    "input_cost_per_image_token": "image_input",
    "output_cost_per_image_token": "image_output",
}
LITELLM_TIERS = {"batches": "batch", "flex": "flex", "priority": "priority"}
LITELLM_KEY = re.compile(  # longest stem first, so "..._above_1hr" is a stem and not a context tier
    r"(?P<stem>{})(?:_above_(?P<k>\d+)k_tokens)?(?:_(?P<tier>{}))?".format(
        "|".join(sorted(LITELLM_FIELDS, key=len, reverse=True)), "|".join(LITELLM_TIERS)
    )
)
LOADER_REGION = re.compile(r"^(us|eu|apac|au|ca|jp|us-gov|global)\.(?=[a-z0-9-]+\.)")  # as models.py strips
MICRO = Decimal("0.000001")

disagreements: list[str] = []  # genai-prices kept, LiteLLM differs: printed to stderr
litellm_notes: list[str] = []  # what LiteLLM could not fill, and why
litellm_added = Counter()  # what the LiteLLM pass added, for the header
litellm_by_key: dict[str, list] = {}  # genai-prices model key -> the (price_id, spec) LiteLLM added to it


def read_litellm(path: Path) -> tuple[dict, str]:
    """LiteLLM's price map and version, from a wheel, an installed package's file, or the JSON itself."""
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as whl:
            meta = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
            ver = re.search(r"^Version: (\S+)$", whl.read(meta).decode(), re.MULTILINE).group(1)
            return json.loads(whl.read(LITELLM_JSON)), ver
    m = re.search(r"litellm-(\d[^-/]*)(?:\.dist-info|-)", str(path))  # the file's own version, if its path says
    return json.loads(path.read_text()), m.group(1) if m else "unknown"


def per_million(value, where: str) -> Decimal | None:
    """LiteLLM's USD per token (a binary float) -> exact USD per million tokens. Its shortest repr is what its
    authors typed (3e-06), so Decimal(repr) is exact; a value not clean at 6 decimals per million
    (8.900000000000001e-07) is float noise from arithmetic, and is rejected rather than guessed at."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        litellm_notes.append(f"{where}: not a number ({value!r}), ignored")
        return None
    d = Decimal(repr(float(value))) * 1_000_000
    if d < 0 or d != d.quantize(MICRO):
        litellm_notes.append(f"{where}: {value!r} is negative or not a clean decimal per million tokens ({d}), ignored")
        return None
    return d.normalize()


def litellm_flat(key: str, info: dict) -> dict[tuple[str, int, str], Decimal]:
    """(service tier, context threshold, field) -> price per million; tier "" and threshold 0 = the base."""
    flat = {}
    for k, v in info.items():
        m = LITELLM_KEY.fullmatch(k)
        if m:
            price = per_million(v, f"litellm {key} {k}")
            if price is not None:
                tier = LITELLM_TIERS.get(m["tier"] or "", "")
                flat[(tier, int(m["k"] or 0) * 1000, LITELLM_FIELDS[m["stem"]])] = price
    return flat


def litellm_records(data: dict) -> dict[tuple[str, str], dict]:
    """(LiteLLM provider, model name) -> {"flat", "keys"}. Keys naming the same model ("deepseek-chat" and
    "deepseek/deepseek-chat") are merged; a price they disagree on is left out."""
    out: dict[tuple[str, str], dict] = {}
    for key in sorted(data):
        info = data[key]
        if not isinstance(info, dict) or info.get("mode") not in LITELLM_MODES:
            continue
        lp = str(info.get("litellm_provider", ""))
        lp = "vertex_ai" if lp.startswith("vertex_ai") else LITELLM_SAME.get(lp, lp)
        if lp not in LITELLM_PROVIDERS:
            continue
        first, _, rest = key.partition("/")
        name = rest if rest and (first in LITELLM_PROVIDERS or first == "vertex_ai") else key
        if "/" in name and lp not in LITELLM_SLASH_NAMES:
            continue  # a route/region/commitment path, see LITELLM_SLASH_NAMES
        flat = litellm_flat(key, info)
        rec = out.setdefault((lp, name.lower()), {"name": name, "flat": {}, "keys": [], "conflicts": set()})
        for k, v in flat.items():
            if k in rec["conflicts"]:
                continue
            if k in rec["flat"] and rec["flat"][k] != v:
                litellm_notes.append(f"litellm {rec['keys']} and {key} disagree on {k}: left out")
                rec["conflicts"].add(k)
                del rec["flat"][k]
            else:
                rec["flat"][k] = v
        rec["keys"].append(key)
    return out


def flat_to_prices(flat: dict, tier: str) -> dict | None:
    """Our fields (with "tiers") for one service tier of a flat LiteLLM price, or None without input+output.
    A tier lists only the rates it changes, as convert() does for genai-prices."""
    base = {f: v for (t, k, f), v in flat.items() if t == tier and k == 0}
    if "input" not in base or "output" not in base:
        return None
    prices = {f: base[f] for f in OUT_FIELDS if f in base}
    tiers = []
    for start in sorted({k for (t, k, _) in flat if t == tier and k}):
        changed = {f: v for (t, k, f), v in flat.items() if t == tier and k == start and v != base.get(f)}
        if changed:
            tiers.append({"above_input_tokens": start, **{f: changed[f] for f in OUT_FIELDS if f in changed}})
    if tiers:
        prices["tiers"] = tiers
    if prices.get("reasoning") == prices["output"] and not any("reasoning" in t for t in tiers):
        prices.pop("reasoning", None)  # carried only where it differs from the output price
    return prices


def tiers_flat(prices: dict) -> dict[tuple[int, str], Decimal]:
    return {(t["above_input_tokens"], f): v for t in prices.get("tiers", []) for f, v in t.items() if f in OUT_FIELDS}


def compare(where: str, ours: dict, theirs: dict) -> None:
    """Record where LiteLLM prices a kind genai-prices also prices, differently (genai-prices is kept)."""
    for f in OUT_FIELDS:
        if f in ours and f in theirs and ours[f] != theirs[f]:
            disagreements.append(f"{where} {f}: genai-prices {dec(ours[f])}, LiteLLM {dec(theirs[f])}")
    a, b = tiers_flat(ours), tiers_flat(theirs)
    for k in sorted(set(a) & set(b)):
        if a[k] != b[k]:
            disagreements.append(f"{where} {k[1]} above {k[0]}: genai-prices {dec(a[k])}, LiteLLM {dec(b[k])}")
    if a and b and set(a) != set(b):
        disagreements.append(f"{where}: context tiers differ ({sorted(a)} vs {sorted(b)})")


def litellm_pass(scopes, by_key, data, lver):
    """Yields (price_id, spec) for what LiteLLM adds; also takes from genai-prices entries the names (or the provider)
    that a LiteLLM entry now prices, so that no two entries tie for a name at the same start."""
    src = f"LiteLLM {lver}"
    records = litellm_records(data)
    resolvers = {
        pid: (lambda name, scope=scope: next(((m, sub) for m, sub, _ in scope if m.is_match(name.lower())), None))
        for pid, scope in scopes.items()
    }
    extend: dict[tuple, list] = {}  # (model key, LiteLLM provider, entry content) -> names
    new: dict[tuple, list] = {}  # (LiteLLM provider, base name, flat) -> names
    for (lp, _), rec in sorted(records.items()):
        pid, prefix, served = LITELLM_PROVIDERS[lp]
        name, flat = rec["name"], rec["flat"]
        hit = resolvers[pid](name)
        if hit is None:
            base = LOADER_REGION.sub("", name.lower())
            new.setdefault((lp, base, tuple(sorted(flat.items()))), []).append(name)
            continue
        model, sub = hit
        key = f"{pid}/{sub}{model.id}"
        if key not in by_key:
            litellm_notes.append(f"{lp}/{name}: genai-prices resolves it to {key}, which is not in the book")
            continue
        versions = by_key[key]
        std_pid, std = [(i, s) for i, s in versions if not s["tier"]][-1]  # genai-prices' current price
        where = f"{lp}/{name} vs {std_pid}"
        theirs = flat_to_prices(flat, "")
        if theirs is None:
            continue
        anchor = all(theirs[f] == std["prices"][f] for f in ("input", "output"))
        if not anchor:
            # Vertex AI: genai-prices has one Google provider and one price per Gemini model, in effect the Gemini
            # API's (it cites both price pages). Where LiteLLM's Vertex price for a Gemini model differs from it,
            # and LiteLLM's Gemini API price agrees with genai-prices or is gone (LiteLLM drops shut-down models
            # from the Gemini API list), Vertex has a price of its own, which genai-prices lacks: it gets an
            # entry of its own. Not for partner models (Claude): genai-prices prices those from Anthropic's list.
            gem = records.get(("gemini", name.lower()))
            gem_prices = flat_to_prices(gem["flat"], "") if gem else None
            if (lp == "vertex_ai" and not sub and model.id.startswith("gemini")
                    and name.lower() == bare_id(model).lower() and "gcp.vertex_ai" in std["served"]
                    and (gem is None or gem_prices
                         and all(gem_prices[f] == std["prices"][f] for f in ("input", "output")))):
                litellm_notes.append(f"{where}: taken as Vertex AI's own price (input {dec(theirs['input'])},"
                                     f" output {dec(theirs['output'])}); genai-prices' kept for the others")
                std["served"] = [s for s in std["served"] if s != "gcp.vertex_ai"]
                std["comments"] = std["comments"] + [f"not for gcp.vertex_ai: it has its own price (from {src})"]
                comments = [f"from {src}: Vertex AI's own price (genai-prices' {std_pid} is the Gemini API's,"
                            f" which LiteLLM {'lists no more' if gem is None else 'agrees with'}); dated from it"]
                pid_v = f"gcp/vertex/{model.id}@{std['start'].isoformat()}~litellm"
                litellm_added["Vertex AI's own price for a genai-prices model"] += 1
                yield pid_v, spec(comments, ["gcp.vertex_ai"], std["models"], std["pattern"], std["start"], "",
                                  theirs)
                continue
            compare(where, std["prices"], theirs)
            litellm_notes.append(f"{where}: input/output differ, so LiteLLM's extras are not added")
            continue
        compare(where, std["prices"], theirs)
        content = []  # what this name would add: standard fields, context tiers, service-tier entries
        add = {f: v for f, v in theirs.items() if f in OUT_FIELDS and f not in std["prices"]}
        for f in [f for f, v in add.items() if v == 0]:
            del add[f]  # LiteLLM writes 0.0 for "not applicable" (DeepSeek cache writes): not a price to fill
        if "tiers" in theirs and "tiers" not in std["prices"]:
            add["tiers"] = theirs["tiers"]
        if add:
            content.append(("", tuple(sorted((f, repr(v)) for f, v in add.items()))))
        genai_tiers = {s["tier"]: s for _, s in versions if s["tier"]}
        for tier in sorted(set(LITELLM_TIERS.values())):
            tp = flat_to_prices(flat, tier)
            if tp is None:
                continue
            if tier in genai_tiers:
                compare(f"{where}#{tier}", genai_tiers[tier]["prices"], tp)
            else:
                content.append((tier, tuple(sorted((f, repr(v)) for f, v in tp.items()))))
        for c in content:  # names that would get the very same addition share one entry
            extra = add if not c[0] else flat_to_prices(flat, c[0])
            extend.setdefault((key, lp, c), []).append((name, std_pid, std, c[0], extra, model.id))
    for (key, lp, _), named in sorted(extend.items(), key=lambda kv: (kv[0][0], kv[0][1], repr(kv[0][2]))):
        pid, prefix, served = LITELLM_PROVIDERS[lp]
        names = sorted({n for n, *_ in named}, key=lambda n: (len(n), n))
        _, std_pid, std, tier, extra, _ = named[0]
        gp_prefix = std_pid[: std_pid.rindex(named[0][5] + "@")]  # e.g. "azure/openai/", as genai-prices' id
        if pid == "google":  # one genai-prices provider, two of LiteLLM's: "gcp/x" -> "gcp/gemini/x", "gcp/vertex/x"
            gp_prefix = prefix + gp_prefix[len("gcp"):]
        if not tier:
            # A name genai-prices lists exactly would tie with this entry: it moves here, unless the genai-prices
            # entry also serves providers this one does not (the name would then go unpriced for them).
            taken = [n for n in names if n.lower() in {m.lower() for m in std["models"]}]
            if taken and not set(std["served"]) <= set(served):
                litellm_notes.append(f"{lp}/{taken}: listed by {std_pid} for {std['served']}, not extended")
                names = [n for n in names if n not in taken]
            elif taken:
                std["models"] = [m for m in std["models"] if m.lower() not in {t.lower() for t in taken}]
                if not std["models"] and not std["pattern"]:  # the LiteLLM entry holds all its prices: dropped
                    litellm_notes.append(f"{std_pid}: all its names now priced by LiteLLM entries, left out")
            if not names:
                continue
            prices = {**std["prices"], **extra}
            prices = {f: prices[f] for f in (*OUT_FIELDS, "tiers", "time_of_day") if f in prices}
            what = ", ".join(f for f in (*OUT_FIELDS, "tiers") if f in extra)
            comments = [f"from {src}: {what} added to genai-prices' {std_pid} (the rest), dated from it"]
            litellm_added[f"{what} added to a genai-prices model"] += 1
        else:
            prices = extra
            comments = [f"from {src}: {tier} price, dated from genai-prices' standard {std_pid}"]
            litellm_added[f"{tier} price for a genai-prices model"] += 1
        served_here = [s for s in served if s in std["served"]] or served
        pid_new = f"{gp_prefix}{names[0]}@{std['start'].isoformat()}" + (f"#{tier}" if tier else "") + "~litellm"
        litellm_by_key.setdefault(key, []).append((pid_new, spec(comments, served_here, names, None, std["start"],
                                                                 tier, prices)))
        yield litellm_by_key[key][-1]
    for (lp, _base, flat_items), names in sorted(new.items(), key=lambda kv: (kv[0][0], kv[0][1], repr(kv[0][2]))):
        pid, prefix, served = LITELLM_PROVIDERS[lp]
        flat = dict(flat_items)
        names = sorted(names, key=lambda n: (len(n), n))
        if not flat or all(v == 0 for v in flat.values()):
            litellm_notes.append(f"{lp}/{names}: no non-zero price in LiteLLM, left out")
            continue
        for tier in ["", *sorted(set(LITELLM_TIERS.values()))]:
            prices = flat_to_prices(flat, tier)
            if prices is None:
                if not tier:
                    litellm_notes.append(f"{lp}/{names}: no input and output price in LiteLLM, left out")
                    break
                continue
            pid_new = f"{prefix}/{names[0]}@{DEFAULT_EFFECTIVE_FROM.isoformat()}" + (f"#{tier}" if tier else "")
            comments = [f"from {src}: not in genai-prices (no price history: start assumed)"]
            litellm_added[f"{tier or 'standard'} price for a model genai-prices lacks"] += 1
            yield pid_new + "~litellm", spec(comments, served, names, None, DEFAULT_EFFECTIVE_FROM, tier, prices)
