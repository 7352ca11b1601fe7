{#- Upgrade guide: "apt-get update; apt-get dist-upgrade" (non-interactive, local
    conffiles kept, the salt-minion held). #}

synnefo-upgrade-apt-dist-upgraded-to-jessie:
  apt_jessie.dist_upgraded:
    - name: dist-upgrade to jessie
