"""Expected values of the hand-computed examples, from the texts, in exact arithmetic.

APA participation, art. R.232-11 CASF (DOMAIN.md section 3): resources R (a couple's divided
by 1.7), plan A split in tranches A1 = min(A, 0.317 MTP), A2 = part between 0.317 and
0.498 MTP, A3 = part above 0.498 MTP;
    R <= 0.725 MTP                 : P = 0
    0.725 MTP < R <= 2.67 MTP      : x = (R - 0.725 MTP) / (1.945 MTP),
                                     P = 0.9 x [A1 + A2 (0.4 + 0.6 x) + A3 (0.2 + 0.8 x)]
    R > 2.67 MTP                   : P = 0.9 A
MTP used for the year: 1,210.90 (2024), 1,266.60 (2025), 1,288.13 (2026).

Baseline (DOMAIN.md section 3, DATA.md): F0 = (H_apa + H_pch) x rate + H_social_aid x
tariff + DC, tariff = the service's own for HAS, tarif_reference for NHAS, rate =
max(tariff, floor): the floor is a minimum for APA and PCH hours only (seed 000: « une
recette minimale pour chaque heure d'intervention auprès des bénéficiaires de l'APA et la
PCH »); floor 2026 = 25.00 EUR/h. The fixture is tests/src/fixtures.rs (Fixture::hand_example).

Run: python3 tests/reference/hand_example.py   (prints the values the tests hard-code)
"""
from fractions import Fraction as F

MTP = {2024: F("1210.90"), 2025: F("1266.60"), 2026: F("1288.13")}


def participation(plan, resources, mtp, couple=False):
    plan, r = F(plan), F(resources)
    if couple:
        r = r / F("1.7")
    if r <= F("0.725") * mtp:
        return F(0)
    if r > F("2.67") * mtp:
        return F("0.9") * plan
    t1, t2 = F("0.317") * mtp, F("0.498") * mtp
    a1 = min(plan, t1)
    a2 = max(min(plan, t2) - t1, 0)
    a3 = max(plan - t2, 0)
    x = (r - F("0.725") * mtp) / (F("1.945") * mtp)
    return F("0.9") * x * (a1 + a2 * (F("0.4") + F("0.6") * x) + a3 * (F("0.2") + F("0.8") * x))


if __name__ == "__main__":
    print("# APA participation: (year, resources, couple, plan) -> P")
    for year in (2024, 2025, 2026):
        for r in ("800", "1500", "2600", "5000"):
            for plan in ("300", "500", "1200"):
                print(f"({year}, {r}.0, false, {plan}.0, {float(participation(plan, r, MTP[year])):.12}),")
    print(f"(2026, 3000.0, true, 900.0, {float(participation('900', '3000', MTP[2026], True)):.12}),")

    print("# hand example, 2026")
    m = MTP[2026]
    p1 = participation("1000", "1500", m)
    p4 = participation("900", "2600", m)
    t1, t4 = p1 / 1000, p4 / 900
    print("U1 participation_month", float(p1), "oop", float(t1 * F("27.50")))
    print("U4 participation_month", float(p4), "oop", float(t4 * 25 + 4))
    part1 = 10000 * F("27.50") * t1
    part3 = 6000 * 25 * t4
    s2 = 4000 * 25 + 1000 * F("23.00")
    print("S2 funding (social-aid hours at the 23.00 tariff)", s2, "Aisne", 3 * s2)
    print("national funding", 2 * 348750 + 3 * s2 + F("1.5") * 176000)
    print("S2 with a 28.00 floor", 4000 * 28 + 1000 * F("23.00"))
    print("S1 user_participation", float(part1), "public_cost", float(348750 - part1))
    print("S3 user_participation", float(part3), "public_cost", float(176000 - part3))
    print("national participation", float(2 * part1 + F("1.5") * part3))
