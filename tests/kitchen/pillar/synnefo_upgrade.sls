# -*- coding: utf-8 -*-
# vim: ft=yaml
# Pillar for the kitchen suites: the defaults, with backups and records in their usual places.
---
synnefo_upgrade:
  backup_dir: /var/backups/synnefo_upgrade
  state_dir: /var/lib/synnefo_upgrade
  ip_history:
    changelog: ''
