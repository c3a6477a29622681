"""Expected values of the fidelity tests (tests/tests/it/fidelity.rs), from the texts, in
exact arithmetic, on the hand example (tests/src/fixtures.rs, Fixture::hand_example; 2026:
floor 25.00 EUR/h, MTP 1,288.13 EUR).

1. The floor is a minimum for APA and PCH hours only (seed 000: « une recette minimale pour
   chaque heure d'intervention auprès des bénéficiaires de l'APA et la PCH »): social-aid
   hours are paid at the service's tariff (HAS) or the département's (NHAS).
   F0 = (H_apa + H_pch) max(tariff, floor) + H_social_aid tariff + DC.
2. A formula funding some allowances replaces their hourly funding (and the dotation
   complémentaire); the other allowances' hours stay paid by the hour, carried unchanged.
   Default funded: APA and social aid (7: « La forfaitisation de la PCH n'est pas prévue
   par le code de l'action sociale et des familles »).
7. APA ceilings, art. R.232-10: GIR1 1.615, GIR2 1.306, GIR3 0.944, GIR4 0.630 MTP.
9. Budget change (seed 000: « les conseils départementaux ont toutefois toute liberté pour
   déployer des financements additionnels »): target = baseline (1 + p/100) + euros.

The formula of the tests is `globale` on `hours_funded`: F_s = theta h_s, one parameter,
fixed by national neutrality alone: theta = target / sum_s w_s h_s.

6. Seed 001 §7.3: participation on resources alone « pour les GIR 1,2 et 3, voire GIR 4 »:
   rate 0.9 x on the département's hourly value max(tarif_reference, floor); a GIR 4 user
   keeps art. R.232-11 unless the spec extends 7.3 to GIR 4.

Run: python3 tests/reference/fidelity_example.py
"""
import math
from fractions import Fraction as F

from hand_example import participation

MTP = F("1288.13")
FLOOR = F(25)
CEILING = {1: F("1.615"), 2: F("1.306"), 3: F("0.944"), 4: F("0.630")}

# service: weight, hours (apa, pch, social_aid, other), tariff, habilitated, dc
SERVICES = {
    "S1": (F(2), (10000, 2000, 500, 300), F("27.50"), True, F(5000)),
    "S2": (F(3), (4000, 0, 1000, 0), F("23.00"), True, F(0)),
    "S3": (F("1.5"), (6000, 1000, 0, 0), F("24.00"), False, F(1000)),  # Ain's reference
}
# user: service, gir, plan hours a month
APA_USERS = {"U1": ("S1", 2, 40), "U3": ("S2", 4, 20), "U4": ("S3", 3, 35)}


def baseline(s):
    w, (apa, pch, sa, other), tariff, has, dc = SERVICES[s]
    rate = max(tariff, FLOOR)
    return (apa + pch) * rate + sa * tariff + dc


def funded_part(s, funded=("APA", "social_aid")):
    w, (apa, pch, sa, other), tariff, has, dc = SERVICES[s]
    rate = max(tariff, FLOOR)
    parts = {"APA": apa * rate, "PCH": pch * rate, "social_aid": sa * tariff}
    kept = sum(v for a, v in parts.items() if a in funded)
    carried = sum(v for a, v in parts.items() if a not in funded)
    return kept + dc, carried


def funded_hours(s, funded=("APA", "social_aid")):
    apa, pch, sa, other = SERVICES[s][1]
    return sum(h for a, h in (("APA", apa), ("PCH", pch), ("social_aid", sa), ("other", other)) if a in funded)


def weighted(f):
    return sum(SERVICES[s][0] * f(s) for s in SERVICES)


if __name__ == "__main__":
    print("# 1. baseline, floor on APA and PCH hours only")
    for s in SERVICES:
        print(s, "funding", baseline(s))
    print("Ain", sum(SERVICES[s][0] * baseline(s) for s in ("S1", "S3")), "Aisne", SERVICES["S2"][0] * baseline("S2"))
    print("national", weighted(baseline))

    print("# 2. formula funding APA + social aid")
    for s in SERVICES:
        k, c = funded_part(s)
        print(s, "formula baseline", k, "carried", c, "funded hours", funded_hours(s))
    b_f = weighted(lambda s: funded_part(s)[0])
    car = weighted(lambda s: funded_part(s)[1])
    h = weighted(funded_hours)
    theta = b_f / h
    print("weighted formula baseline", b_f, "carried", car, "hours", h, "theta", theta, float(theta))
    for s in SERVICES:
        f = theta * funded_hours(s)
        print(s, "formula funding", f, float(f), "total", float(f + funded_part(s)[1]))
    # U1's hourly value: 27.50 x F_S1 / B_S1 (PCH user U2 stays at 27.50).
    print("U1 hourly value", float(F("27.50") * theta * funded_hours("S1") / funded_part("S1")[0]))

    print("# 7. activity in hours (weighted)")
    for i, a in enumerate(("apa", "pch", "social_aid", "other")):
        print(a, weighted(lambda s: SERVICES[s][1][i]))
    print("funded_by_formula", h, "paid_by_the_hour", weighted(lambda s: SERVICES[s][1][1]))

    print("# 7. plans over the ceiling with a +40 % budget change")
    theta40 = b_f * F(140, 100) / h
    print("theta", float(theta40))
    for u, (s, gir, hours) in APA_USERS.items():
        # Rounded to the cent, as the ceilings are published.
        ceiling = F(math.floor(CEILING[gir] * MTP * 100 + F(1, 2)), 100)
        valued = hours * theta40
        print(u, "valued", float(valued), "ceiling", float(ceiling), "over", valued > ceiling)

    print("# 9. budget changes")
    for p in (-5, -2, 0, 3, 5):
        print(p, "target", b_f * (1 + F(p, 100)))
    print("euros 10000: factor", 1 + F(10000) / b_f, "target", b_f + 10000)

    print("# 6. 7.3 and GIR 4 (U3 with resources 2000 EUR/month, plan 500 EUR, S2 Aisne)")
    r = F(2000)
    x = (r - F("0.725") * MTP) / (F("1.945") * MTP)
    p71 = participation("500", "2000", MTP) / 500 * FLOOR  # S2's rate: 23.00 raised to 25
    p73 = F("0.9") * x * F("26.10")  # Aisne's reference tariff, above the floor
    print("7.1 (GIR 4 without the extension)", p71, float(p71))
    print("7.3 (GIR 4 with the extension)", p73, float(p73))
