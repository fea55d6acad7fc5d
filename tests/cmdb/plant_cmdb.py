"""The small plant CMDB the CMDB tests share (a module of its own: `conftest` names collide across test folders)."""

ITEMS = """name,type,criticality,owner,environment,description,attr.vendor
db-mes-prod,database,critical,dba,prod,MES production database,postgres
mes-core,application,high,mes-team,prod,,
mes-screen-packing,mes_screen,medium,mes-team,prod,packing screen,
line-3,production_line,critical,plant-ops,prod,,
site-north,site,high,plant-ops,prod,,
host-7,host,high,infra,prod,,dell
mes-service,service,high,mes-team,prod,,
printer-3a,label_printer,low,plant-ops,prod,,zebra
"""

RELATIONS = """source,target,type
mes-core,db-mes-prod,depends_on
mes-screen-packing,mes-core,depends_on
mes-screen-packing,line-3,part_of
line-3,site-north,part_of
db-mes-prod,host-7,runs_on
mes-service,mes-core,depends_on
printer-3a,line-3,part_of
"""
