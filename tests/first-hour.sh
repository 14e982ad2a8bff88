#!/usr/bin/env bash
# A force's first hour with Probity: README.md's "First hour" section, as a
# script CI runs (crates/probity/tests/first_hour.rs). Run it in an empty
# folder with `probity` on PATH. Every command is a documented one.
set -euo pipefail

# 1. The IT admin creates the store. They become its admin, bound to their
#    operating-system account (so `--as itadmin` needs no password for them).
probity init store --admin itadmin

# 2. The DPO writes the governance file from the template. As written it is
#    valid and approves nothing.
probity governance init governance.toml
#    They uncomment the purposes and approvals the force agreed (here all of
#    them: remove the leading "# " of each block line) and fill in every TODO
#    (here with sed; a DPO uses an editor). `check` lists every problem at
#    once, with its line; `apply` says what changed and logs it.
sed -i -E 's/^# (\[|[a-z_]+ = )/\1/' governance.toml
sed -i -E \
  -e 's/^lawful_basis = "TODO"/lawful_basis = "Law enforcement processing, DPA 2018 Part 3"/' \
  -e 's/^dpia = "TODO"/dpia = "DPIA-2026-001"/' \
  -e 's/^alternative_considered = "TODO"/alternative_considered = "Manual sampling by supervisors: misses repeated patterns"/' \
  -e 's/^approver = "TODO"/approver = "Deputy Chief Constable"/' \
  governance.toml
probity governance check governance.toml
probity governance apply governance.toml --store store --as itadmin

# 3. Users: an analyst and a reviewer. `user reset` sets a password (without
#    --new-password-stdin it prints a random one to hand over in person).
probity user add ana --store store --role analyst --as itadmin
probity user add rev --store store --role reviewer --as itadmin
echo 'ana-pilot-password-1' | probity user reset ana --store store --new-password-stdin --as itadmin
echo 'rev-pilot-password-2' | probity user reset rev --store store --new-password-stdin --as itadmin

# 4. The force's exports (a synthetic force stands in for them here), ingested.
probity synth --out exports --people 300 --days 60 --seed 11
probity ingest exports --store store --as itadmin
probity governance status store

# 5. The analyst links register entries to staff and runs the approved
#    detectors; findings name people only by pseudonym.
echo 'ana-pilot-password-1' | probity resolve store --as ana --password-stdin
echo 'ana-pilot-password-1' | probity analyze store --out findings --as ana --password-stdin

# 6. A reviewer reveals who the first finding is about, with a reason (on
#    the audit log); the analyst triages it.
finding=$(head -n 1 findings/findings.jsonl | grep -o '"finding_id":"[^"]*"' | head -n 1 | cut -d '"' -f 4)
person=$(head -n 1 findings/findings.jsonl | grep -o '"person_id":"[^"]*"' | head -n 1 | cut -d '"' -f 4)
echo 'rev-pilot-password-2' | probity reveal "$finding" --store store --reason "Pilot: first finding, checking the explanation" --as rev --password-stdin
echo 'ana-pilot-password-1' | probity triage "$finding" --store store --outcome no_further_action --dismissal explained --reason "Pilot: the recorded duty change explains it" --as ana --password-stdin

# 7. The member of staff asks for their subject access report (a reviewer
#    produces it), and anyone can check the audit chain.
echo 'rev-pilot-password-2' | probity report subject "$person" --store store --out report --reason "Pilot: subject access request" --as rev --password-stdin
probity audit verify store
