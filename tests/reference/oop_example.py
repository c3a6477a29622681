"""Users' out-of-pocket per billed hour before and after a model, hand example, exact.

The rules (DOMAIN.md section 3, seed 001 section 7, docs/guarantees.md):
- today, an APA user pays the share P(A)/A of each hour billed at the service's rate v0
  (P of art. R.232-11 on the accepted plan A); an NHAS user also pays price - v0;
- under a model paying F instead of F0, the hours are worth v1 = v0 F / F0; the NHAS price
  is held, so the extra-legal part is max(price - v1, 0); the participation is
    unchanged       (7.1): P(A)/A x v0, as today;
    accepted_plan   (7.2): P(A) / hours billed a month (visits observed, scaled by 52/12
                           weeks a month over the weeks observed);
    resources_only  (7.3): 0.9 x (0 when exempt, 0.9 above 2.67 MTP) x the departement's
                           hourly value max(tarif_reference, floor);
- a user's out-of-pocket stays within today's T for v >= price - (T - c), c the
  participation part, or never when c > T.

Fixture: tests/src/fixtures.rs (Fixture::hand_example), year 2026: MTP 1,288.13, floor
25.00. Visits from 15 to 25 June 2026: 11 days, 11/7 weeks observed.

Run: python3 tests/reference/oop_example.py   (prints the values the tests hard-code)
"""
from fractions import Fraction as F

from hand_example import MTP, participation

mtp = MTP[2026]
floor = F(25)
weeks = F(11, 7)
per_month = F(52, 12)


def resources_rate(r):
    r = F(r)
    if r <= F("0.725") * mtp:
        return F(0)
    if r > F("2.67") * mtp:
        return F("0.9")
    return F("0.9") * (r - F("0.725") * mtp) / (F("1.945") * mtp)


# U1: APA, GIR 2, plan 1000, resources 1500, at S1 (HAS, rate 27.50, dept 01), 2 h seen.
# U4: APA, GIR 3, plan 900, resources 2600, at S3 (NHAS, rate 25, price 29, dept 01),
#     1.25 h seen.
users = {
    "U1": dict(plan=F(1000), r=F(1500), v0=F("27.50"), price=None, hours=F(2)),
    "U4": dict(plan=F(900), r=F(2600), v0=F(25), price=F(29), hours=F("1.25")),
}
v_ref = max(F(24), floor)  # departement 01
for name, u in users.items():
    p = participation(u["plan"], u["r"], mtp)
    billed = u["hours"] / weeks * per_month
    extra0 = max(u["price"] - u["v0"], 0) if u["price"] else F(0)
    before = p / u["plan"] * u["v0"] + extra0
    parts = {
        "unchanged": p / u["plan"] * u["v0"],
        "accepted_plan": p / billed,
        "resources_only": resources_rate(u["r"]) * v_ref,
    }
    print(f"{name}: billed hours/month {float(billed)!r}, before {float(before)!r}")
    for ratio in (F("0.95"), F("1.1")):
        v1 = u["v0"] * ratio
        extra = max(u["price"] - v1, 0) if u["price"] else F(0)
        for opt, c in parts.items():
            print(f"  funding x {float(ratio)} {opt}: after {float(c + extra)!r}")
    for opt, c in parts.items():
        if c > before:
            print(f"  admissible {opt}: never, lowest {float(c)!r}")
        else:
            lo = max(u["price"] - (before - c), 0) if u["price"] else F(0)
            print(f"  admissible {opt}: from v = {float(lo)!r}")
