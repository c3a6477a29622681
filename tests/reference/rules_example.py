"""Expected values of the rules tests (tests/tests/it/rules.rs), from the texts, in exact
arithmetic.

Dotation complementaire (seed 003, Saone-et-Loire 2026): cap = hours APA+PCH x 3.383 EUR/h;
an action started from 1 July is paid for the share of the year left, in days (days from
the start to 31 December, both included, over the days of the year) or in months (start
month counted in full: (13 - month) / 12); the cap is prorated from the earliest start;
over the cap every objective is scaled by the same factor. CNSA refinancing per
departement: min(paid, hours x 3.311) (seed 000).

Avenant 43 aid (seed 004): aid = min(hours share x envelope, rate x cost); 200 MEUR and
50 % from 2022; advance 80 % of the forecast aid; balance = final aid - advance.

Forfait global negocie (seed 001 section 6): 12 instalments of 90 % / 12 = 7.5 %; the
withheld 10 % released x objectives met / set; non-presence share = hours / (1607 x FTE);
structure share = (G1 + G3 + non-carer staff + TISF staff) / gross expenses: seed 001 section
5 leaves only the aides a domicile, AVS and AMP out of structure costs (« dépenses de
personnels autres qu'aides à domicile, auxiliaires de vies sociale et aides
médico-psychologique »), so TISF pay counts.

Run: python3 tests/reference/rules_example.py
"""
from fractions import Fraction as F

CAP_2026 = F("3.383")
CNSA = F("3.311")

print("# dotation complementaire")
print("cap 100,000 h, 2026:", float(100000 * CAP_2026))
oct1_days_2026 = F(31 + 30 + 31, 365)
print("prorata 1 Oct 2026 (days):", oct1_days_2026, float(oct1_days_2026))
print("prorata 1 Oct 2024 (days):", F(92, 366), float(F(92, 366)))
print("prorata 1 Jul 2026 (days):", F(184, 365), float(F(184, 365)))
print("2 vehicles bought, from 1 Oct 2026, days:", float(2 * 3556 * oct1_days_2026))
print("2 vehicles bought, from 1 Oct 2026, months:", float(2 * 3556 * F(3, 12)))
print("cap of 10,000 h from 1 Oct 2026, days:", float(10000 * CAP_2026 * oct1_days_2026))
req1, req5 = 100 * 18, 10 * 209
cap = 1000 * CAP_2026
print("scaled objective 1:", float(req1 * cap / (req1 + req5)), "objective 5:", float(req5 * cap / (req1 + req5)))
print("CNSA limit 10,000 h:", float(10000 * CNSA), "departement share:", float(10000 * CAP_2026 - 10000 * CNSA))

print("# Avenant 43, 2022: envelope 200 MEUR, 50 %")
env, rate = F(200_000_000), F(1, 2)
hours = {"A": 5_200_000, "B": 2_900_000, "C": 1_900_000}
forecast = {"A": 250_000_000, "B": 90_000_000, "C": 80_000_000}
actual = {"A": 260_000_000, "B": 80_000_000, "C": 60_000_000}
total = sum(hours.values())
for d in hours:
    cap = F(hours[d], total) * env
    aid = min(cap, rate * forecast[d])
    adv = F(4, 5) * aid
    fin = min(cap, rate * actual[d])
    print(d, "activity cap", float(cap), "aid", float(aid), "advance", float(adv), "final", float(fin), "balance", float(fin - adv))

print("# forfait global negocie")
for annual, met, set_ in ((F(1_200_000), 3, 4), (F("987654.32"), 2, 5)):
    inst = F(9, 10) * annual / 12
    withheld = annual / 10
    rel = withheld * F(met, set_)
    print(float(annual), "instalment", float(inst), "withheld", float(withheld), "released", float(rel), "frozen", float(withheld - rel), "paid", float(12 * inst + rel))
print("non-presence 3,214 h / (1607 x 10):", F(3214, 16070))
print("non-presence 4,500 h / (1607 x 10):", float(F(4500, 16070)))
print("structure with TISF: (50,000 + 80,000 + 120,000 + 60,000) / 1,000,000:", F(50000 + 80000 + 120000 + 60000, 1000000))

print("# dotation complementaire: each call's own rules")
# Creuse 2025 (seed 002 §III-C): « l'enveloppe départementale 2024 est calculée sur la base
# de 3.311 € par heure d'APA/PCH prestée. Il ne s'agit pas d'un droit de tirage individuel »:
# no individual cap, no prorata; the département's envelope is checked.
env = CNSA * (2000 + 1000 + 1000)
paid = 400 * F("2.5") + 20000
print("Creuse envelope:", env, "paid:", paid, "left:", env - paid)
# Saône-et-Loire 2026 (seed 003 §III-C), our reading per theme: 10,000 h -> 33,830 EUR a
# year; theme 2 from 5 January (24,000 EUR); theme 3 from 1 October: 0.55 EUR x 100,000 h
# x 92/365 requested, at most 33,830 x 92/365.
annual = 10000 * CAP_2026
t3_req = F("0.55") * 100000 * oct1_days_2026
t3_max = annual * oct1_days_2026
print("theme 3 requested", float(t3_req), "max", float(t3_max), "paid", float(min(t3_req, t3_max)))
print("total paid", float(24000 + min(t3_req, t3_max)), "reach", float(annual), "old reading", float(annual))
# The département's maxima: 2 EUR/h -> 20,000 EUR a year; objective 2 at most 15,000 EUR;
# an isolated-communes line at most 4,000 EUR.
annual2 = 10000 * 2
t2 = min(F(24000), F(15000))
t3 = min(min(t3_req, 4000), annual2 * oct1_days_2026)
total = t2 + t3
print("maxima: theme 2", t2, "theme 3", float(t3), "total", float(total), "over 20,000:", total > annual2)
