#!/bin/sh
# docker/multinode.yaml's engines: `kamailio`, `dnsmasq` or `prometheus` (config mounted from
# docker/multinode/).
set -eu
case "${1:-}" in
    kamailio)
        # the edge's own address and the conference numbers into the config
        mkdir -p /run/kamailio
        # each number in the forms a member may dial it (controller/rules/numbers.py): 1NXXNXXXXXX,
        # NXXNXXXXXX and +1NXXNXXXXXX all reach the conference, so all of them go to set 2
        numbers=$(printf '%s' "${VOIP_CONFERENCE_NUMBERS:-16465550150},${VOIP_CONFERENCE_TOLLFREE_NUMBERS:-18664487747}" \
                  | tr -c '0-9,' ',' | tr ',' '\n' | grep -E '^[0-9]+$' \
                  | sed -E 's/^1([0-9]{10})$/[+]?1?\1/' | paste -sd'|')
        sed -e "s/EDGE_ADDRESS/${VOIP_EDGE_ADDRESS:?}/g" -e "s/CONFERENCE_NUMBERS/${numbers:-none}/g" \
            /etc/kamailio-src/kamailio.cfg >/run/kamailio/kamailio.cfg
        cp /etc/kamailio-src/dispatcher.list /etc/kamailio/dispatcher.list
        kamailio -c -f /run/kamailio/kamailio.cfg
        exec kamailio -DD -E -f /run/kamailio/kamailio.cfg
        ;;
    dnsmasq)
        exec dnsmasq --conf-file=/etc/voip-dns/dnsmasq.conf --keep-in-foreground
        ;;
    prometheus)
        printf '%s' "${VOIP_PANEL_METRICS_TOKEN:?}" >/etc/prometheus/panel-token
        exec prometheus --config.file=/etc/voip-prometheus/prometheus.yml \
            --storage.tsdb.path=/var/lib/prometheus --web.listen-address=0.0.0.0:9090 \
            --storage.tsdb.retention.time=1d
        ;;
    *) exec "$@" ;;
esac
