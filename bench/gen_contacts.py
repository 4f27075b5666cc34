#!/usr/bin/env python3
"""Deterministic benchmark files for imports (issue 3).

contacts.csv: N rows (mobile, first name, last name, email); AU mobiles in the five written
forms (0412 345 678, 0412345678, +61 412 345 678, 61412345678, +61412345678); about 5% of rows
repeat an earlier number in another form; about 1% are invalid. optouts.txt: N/10 numbers, half
of them numbers of the file, half not. With --xlsx, the same contacts also as contacts.xlsx
(one sheet, openpyxl's streaming writer; mobiles as text, as the CSV has them).

usage: gen_contacts.py N OUT_DIR [--xlsx]
"""
import os
import random
import sys

n = int(sys.argv[1])
out = sys.argv[2]
xlsx = "--xlsx" in sys.argv[3:]
os.makedirs(out, exist_ok=True)
rng = random.Random(20261128)
leads = "01236"  # 040x-043x and 046x: valid AU mobile ranges


def national(i):
    x = (i * 2654435761 + 12345) % 10_000_000
    return f"4{leads[i % 5]}{x:07d}"  # 9 digits after the 0


def form(nsn, k):
    a, b, c = nsn[0:3], nsn[3:6], nsn[6:9]
    return [f"0{a} {b} {c}", f"0{nsn}", f"+61 {a} {b} {c}", f"61{nsn}", f"+61{nsn}"][k % 5]


first = ["Olivia", "Jack", "Charlotte", "Noah", "Amelia", "Oliver", "Isla", "William", "Mia", "Henry"]
last = ["Smith", "Nguyen", "Williams", "Brown", "Jones", "Garcia", "Wilson", "Taylor", "Anderson", "Thomas"]
used = []


def rows():
    for i in range(n):
        r = rng.random()
        if r < 0.01:
            mobile = rng.choice(["0412 345", "hello", "02 9876 5432", "+61 4123", ""])
        elif r < 0.06 and used:
            mobile = form(rng.choice(used), rng.randrange(5))
        else:
            nsn = national(i)
            used.append(nsn) if len(used) < 200_000 else None
            mobile = form(nsn, i)
        fn, ln = first[i % 10], last[(i // 10) % 10]
        yield mobile, fn, ln, f"{fn.lower()}.{ln.lower()}{i}@example.com"


header = ("Mobile", "First Name", "Last Name", "Email")
if xlsx:
    import openpyxl  # pip install openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("Contacts")
    ws.append(header)
    for r in rows():
        ws.append(r)
    wb.save(os.path.join(out, "contacts.xlsx"))
    used.clear()
    rng = random.Random(20261128)
with open(os.path.join(out, "contacts.csv"), "w") as f:
    f.write(",".join(header) + "\n")
    for r in rows():
        f.write(",".join(r) + "\n")
with open(os.path.join(out, "optouts.txt"), "w") as f:
    for j in range(n // 20):
        f.write(f"+61{national(j * 7)}\n")  # numbers of the file (most rows are unique national(i))
    for j in range(n // 20):
        f.write(f"+614{leads[j % 5]}{(j * 7919 + 3) % 10_000_000 + 0:07d}\n")
