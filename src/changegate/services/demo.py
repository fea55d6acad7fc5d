"""A demo plant: a dozen changes in every state, made through the real use cases.

Everything goes through the same services as real work (so the audit chain,
approvals and refusals are genuine); only the clock is moved back for changes
that should look older, such as an emergency whose retroactive approval is overdue.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from ..schemas.changes import ApprovalIn, AssessIn, ChangeCreate, CommentIn, TransitionIn
from . import changes, cmdb_files, environments, passwords, tokens
from .runtime import Runtime
from ..schemas.schedule import SlotQuery
from . import schedule

_ROLLBACK_APP = "#!/bin/sh\nset -eu\n/opt/mes/bin/deploy --version \"$PREVIOUS_VERSION\" --no-migrate\n"
_ROLLBACK_SQL = "BEGIN;\nDROP INDEX IF EXISTS ix_work_orders_due;\nCOMMIT;\n"


def change_count(rt: Runtime) -> int:
    with rt.uow(write=False) as uow:
        return uow.changes.count()


def already_loaded(count: int) -> str:
    """Loading twice would collide with the first load's schedule: the second load does nothing, and says so."""
    return f"the database already holds {count} changes (the demo plant or real work); nothing to do"


DEMO_LINK_VALIDITY = timedelta(hours=24)


class _Demo:
    def __init__(self, rt: Runtime, uow):
        self.rt = rt
        self.uow = uow  # one unit of work: the demo loads whole or not at all
        self.now = rt.clock()
        self.refs: list[str] = []
        self.requester: dict[str, str] = {}

    def ctx(self, person: str, *, days_ago: float = 0):
        ctx = self.rt.context(person)
        return dataclasses.replace(ctx, now=self.now - timedelta(days=days_ago))

    def do(self, person: str, fn, *args, days_ago: float = 0):
        return fn(self.uow, self.ctx(person, days_ago=days_ago), *args)

    def file(self, person: str, *, evidence: bool = True, days_ago: float = 0, start: datetime | None = None,
             **fields) -> str:
        base = dict(
            impact_analysis=fields.pop("impact", "Affects the listed items only; operators keep working."),
            implementation_plan="Deploy with the release pipeline; watch the MES health page.",
            verification_plan="Smoke test at T+15: print one label, complete one production cycle.",
            rollback_plan={"script": _ROLLBACK_APP, "interpreter": "sh"},
            estimated_downtime=fields.pop("downtime", "30m"),
            planned_start=start or self.slot(fields.get("environment", "prod"), self.now),
        )
        base.update(fields)
        change = self.do(person, changes.create_change, ChangeCreate(**base), days_ago=days_ago)
        if evidence:
            changes.attach_evidence(
                self.uow, self.ctx(person, days_ago=days_ago), change.ref, filename="uat-run.log",
                content=(f"UAT run for {change.title}\n42 passed, 0 failed\n").encode(), media_type="text/plain",
                kind="test_log", max_bytes=self.rt.settings.max_evidence_bytes)
        self.refs.append(change.ref)
        self.requester[change.ref] = person
        return change.ref

    def slot(self, environment: str, after: datetime, minutes: int = 120) -> datetime:
        """The next free slot long enough for the demo's changes (taken from the real schedule)."""
        found = schedule.next_slot(self.uow, self.ctx("chris.change"),
                                   SlotQuery(environment=environment, duration=minutes, after=after))
        return found.start

    def move(self, person: str, ref: str, action: str, reason: str = "", days_ago: float = 0, override: str = ""):
        return self.do(person, changes.transition, ref,
                       TransitionIn(action=action, reason=reason, override_reason=override), days_ago=days_ago)

    def start(self, ref: str) -> float:
        """Start a scheduled change as the gate demands: in its slot, with a rehearsed rollback.
        Returns how many days ago that was."""
        planned = self.do("chris.change", changes.get_change, ref).planned_start
        days_ago = (self.now - planned) / timedelta(days=1) - 5 / 1440
        changes.attach_evidence(self.uow, self.ctx("sam.sysadmin", days_ago=days_ago + 1), ref,
                                filename="rollback-rehearsal.log", content=b"rollback rehearsed on UAT: ok\n",
                                media_type="text/plain", kind="rollback_test",
                                max_bytes=self.rt.settings.max_evidence_bytes)
        self.move("sam.sysadmin", ref, "start", days_ago=days_ago)
        return days_ago

    def approve(self, person: str, ref: str, role: str, days_ago: float = 0):
        return self.do(person, changes.decide_approval, ref, ApprovalIn(role=role, reason="Reviewed; risk acceptable."),
                       days_ago=days_ago)

    def to_authorized(self, ref: str, approvers: list[tuple[str, str]], days_ago: float = 0, signoff: bool = True):
        if signoff:
            self.do("kim.keyuser", changes.sign_off_uat, ref, "UAT passed on the mirror.", days_ago=days_ago)
        self.move(self.requester[ref], ref, "submit", days_ago=days_ago)
        self.do("chris.change", changes.assess, ref, AssessIn(risk_analysis="Reviewed by the change manager."),
                days_ago=days_ago)
        for person, role in approvers:
            self.approve(person, ref, role, days_ago=days_ago)


# The plant's CMDB: every item the demo's changes name, and what depends on what, so that
# `changegate change impact CHG-1` explains which lines a label fix reaches.
_CMDB_ITEMS = """name,type,criticality,owner,environment,description
plant-north,site,critical,plant-ops,prod,The plant
line-2,production_line,critical,plant-ops,prod,Assembly line 2
line-3,production_line,critical,plant-ops,prod,Packing line 3
line-4,production_line,high,plant-ops,prod,Line 4 in hall B
line-5,production_line,high,plant-ops,prod,Line 5 in hall B
mes-service,service,critical,mes-team,prod,Manufacturing execution
erp-service,service,high,erp-team,prod,Orders and costing
mes-core,application,high,mes-team,prod,MES core
mes-labels,module,high,mes-team,prod,Label layouts and weights
mes-quality,module,medium,mes-team,prod,Quality holds
mes-web,application,medium,mes-team,prod,Shop-floor web screens
oee-service,application,medium,mes-team,prod,OEE figures
mes-erp-bridge,application,high,mes-team,prod,Orders between ERP and MES
erp,application,high,erp-team,prod,ERP
erp-db,database,critical,dba,prod,ERP database
mes-db,database,critical,dba,prod,MES production database
uat-db,database,low,dba,uat,MES UAT database
db-host-1,host,high,infra,prod,Database server
mes-node-1,host,high,infra,prod,MES application node 1
mes-node-3,host,high,infra,prod,MES application node 3
lb-mes,network_device,high,infra,prod,Load balancer in front of the MES nodes
switch-hall-b,network_device,critical,infra,prod,Core switch of hall B
scanner-gateway,application,high,mes-team,prod,Barcode scanners to MES
mes-screen-packing-3,mes_screen,medium,mes-team,prod,Packing screen on line 3
mes-screen-oee,mes_screen,low,mes-team,prod,OEE screen on line 2
label-printing,application,medium,mes-team,prod,Label printer spooler
printer-3a,label_printer,medium,plant-ops,prod,Label printer on line 3
"""
_CMDB_RELATIONS = """source,target,type
mes-service,mes-core,depends_on
erp-service,erp,depends_on
mes-labels,mes-core,part_of
mes-quality,mes-core,part_of
mes-core,mes-db,depends_on
mes-core,mes-erp-bridge,depends_on
mes-core,mes-node-1,runs_on
mes-core,mes-node-3,runs_on
mes-erp-bridge,erp,depends_on
erp,erp-db,depends_on
mes-db,db-host-1,runs_on
erp-db,db-host-1,runs_on
mes-web,mes-core,depends_on
mes-web,lb-mes,depends_on
oee-service,mes-db,depends_on
mes-screen-oee,oee-service,depends_on
mes-screen-oee,mes-web,depends_on
mes-screen-oee,line-2,part_of
mes-screen-packing-3,mes-web,depends_on
mes-screen-packing-3,line-3,part_of
label-printing,mes-labels,depends_on
printer-3a,label-printing,depends_on
printer-3a,line-3,part_of
line-2,scanner-gateway,depends_on
line-4,switch-hall-b,depends_on
line-5,switch-hall-b,depends_on
line-2,plant-north,part_of
line-3,plant-north,part_of
line-4,plant-north,part_of
line-5,plant-north,part_of
"""


def load_demo(rt: Runtime) -> dict:
    with rt.uow() as uow:
        return _load(_Demo(rt, uow))


def _load(d: _Demo) -> dict:
    rt = d.rt
    cmdb_files.import_files(d.uow, d.ctx("chris.change", days_ago=30), [
        ("demo-items.csv", _CMDB_ITEMS.encode()), ("demo-relations.csv", _CMDB_RELATIONS.encode())])
    patch_ok = [("ines.itmgr", "it_manager")]
    minor_ok = [("ines.itmgr", "it_manager"), ("omar.ops", "operations_manager")]

    ref = d.file("dana.dev", title="Fix rounding of net weight on line 3 labels", category="application",
                 release_level="patch", environment="prod", items=["mes-labels", "line-3"], version="2.4.1",
                 start=d.slot("prod", d.now - timedelta(days=14)), days_ago=20)
    d.to_authorized(ref, patch_ok, days_ago=16)
    d.move("chris.change", ref, "schedule", days_ago=15)
    environments.record_refresh(d.uow, d.ctx("sam.sysadmin", days_ago=21), "uat", d.now - timedelta(days=21))
    d.move("sam.sysadmin", ref, "complete", days_ago=d.start(ref))

    ref = d.file("dana.dev", title="Add OEE dashboard to the MES shop-floor screens", category="application",
                 release_level="minor", environment="prod", items=["mes-web", "oee-service"], version="2.5.0",
                 downtime="0m")
    d.to_authorized(ref, minor_ok)
    d.move("chris.change", ref, "schedule")

    ref = d.file("rene.release", title="Upgrade ERP to version 5 (new costing engine)", category="application",
                 release_level="major", environment="prod", items=["erp", "erp-db", "mes-erp-bridge"],
                 version="5.0.0", downtime="2h", impact="All lines: order release pauses; planners need retraining.")
    d.to_authorized(ref, [("clara.cio", "cio")])
    d.do("paul.plant", changes.add_comment, ref, CommentIn(body="Not before the quarter closes; I will sign then."))

    ref = d.file("sam.sysadmin", title="Tune autovacuum on the MES database", category="software_configuration",
                 release_level="patch", environment="prod", items=["mes-db"], downtime="10m")
    d.move("sam.sysadmin", ref, "submit")

    d.file("dana.dev", title="Replace core switch in hall B", category="hardware", release_level="minor",
           environment="prod", items=["switch-hall-b", "line-4", "line-5"], evidence=False, downtime="1h")

    ref = d.file("sam.sysadmin", type="emergency", title="Hotfix: barcode scanner timeout stops line 2",
                 category="software_configuration", release_level="patch", environment="prod",
                 items=["scanner-gateway", "line-2"], evidence=False, downtime="5m",
                 start=d.now - timedelta(hours=3), days_ago=0.2)
    d.move("sam.sysadmin", ref, "submit", days_ago=0.15)
    d.move("sam.sysadmin", ref, "start", days_ago=0.15, override="Line 2 stopped: no time for the full gate.")
    d.move("sam.sysadmin", ref, "complete", days_ago=0.1)

    ref = d.file("sam.sysadmin", type="emergency", title="Emergency: restore ERP interface certificate",
                 category="software_configuration", release_level="minor", environment="prod",
                 items=["erp", "mes-erp-bridge"], evidence=False, downtime="15m",
                 start=d.now - timedelta(days=3), days_ago=3)
    d.move("sam.sysadmin", ref, "submit", days_ago=3)
    d.move("sam.sysadmin", ref, "start", days_ago=3, override="Orders stopped flowing to the ERP.")
    d.move("sam.sysadmin", ref, "complete", days_ago=3)
    d.approve("ines.itmgr", ref, "it_manager", days_ago=2.5)  # operations never signed: overdue

    ref = d.file("dana.dev", title="Purge expired batch genealogy records", category="data", release_level="patch",
                 environment="prod", items=["mes-db"], downtime="20m")
    d.do("kim.keyuser", changes.sign_off_uat, ref, "Purge verified on UAT copy.")
    d.move("dana.dev", ref, "submit")
    d.do("chris.change", changes.assess, ref, AssessIn(risk_analysis="Irreversible delete."))
    d.do("ines.itmgr", changes.decide_approval, ref,
         ApprovalIn(role="it_manager", decision="rejected", reason="No backup of the purged rows; archive first."))

    ref = d.file("rene.release", title="Shift load-balancer weight to the new MES node", category="traffic",
                 release_level="minor", environment="prod", items=["lb-mes", "mes-node-3"], version="1.8.0",
                 start=d.slot("prod", d.now - timedelta(days=7)), days_ago=10)
    d.to_authorized(ref, minor_ok, days_ago=9)
    d.move("chris.change", ref, "schedule", days_ago=8)
    started = d.start(ref)
    d.move("sam.sysadmin", ref, "fail", "Smoke test at T+15: label cycle took 40% longer.", days_ago=started)
    d.move("sam.sysadmin", ref, "roll_back", "Weights restored in 6 minutes.", days_ago=started)

    ref = d.file("chris.change", type="standard", template="restart-label-printer-service",
                 title="Restart the label printer spooler", environment="prod", evidence=False)
    d.move("chris.change", ref, "submit")
    d.move("chris.change", ref, "schedule")

    ref = d.file("dana.dev", title="Prototype new label layout", category="application", release_level="minor",
                 environment="dev", items=["mes-labels"],
                 start=d.now - timedelta(days=1), days_ago=2)
    d.move("dana.dev", ref, "submit", days_ago=2)
    d.do("chris.change", changes.assess, ref, AssessIn(), days_ago=2)

    ref = d.file("sam.sysadmin", title="Refresh UAT data from PROD (anonymised)", category="data",
                 release_level="patch", environment="uat", items=["uat-db"], downtime="1h")
    d.move("sam.sysadmin", ref, "cancel", "Postponed until the new anonymisation rules are approved.")

    ref = d.file("dana.dev", title="Add quality-hold reason codes", category="application", release_level="minor",
                 environment="uat", items=["mes-quality"])
    d.to_authorized(ref, minor_ok)

    secrets: dict[str, str] = {}
    for person in rt.policy.people:
        created = d.do("chris.change", tokens.create_token, person.id, "demo")
        secrets[person.id] = created.secret
    # A newcomer opening the pages needs a way in: a one-time set-password link per person who may sign in
    # (no default passwords), valid for a day, shown once by `serve --demo` like the tokens.
    links = {person.id: d.do("chris.change", passwords.create_link, person.id, DEMO_LINK_VALIDITY)
             for person in rt.policy.people if not person.service_account}
    return {"changes": d.refs, "tokens": secrets, "links": links}
