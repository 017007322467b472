"""Every setting, read from the environment in one place, with documented defaults.

The defaults run everything on loopback on one machine (the sandbox); production sets
the variables (docker/compose.yaml shows them).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field, replace
from decimal import Decimal
from urllib.parse import quote


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


SIM_PSTN_DIAL = "Local/{number}@sim-pstn/n"  # the simulated PSTN (asterisk_conf: [sim-pstn])


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


def _default_vm_media_dir() -> str:
    instance = _env("VOIP_ASTERISK_INSTANCE_DIR", "")
    return f"{instance}/spool/voicemail" if instance else "/var/spool/asterisk/voicemail"


def _default_fax_local_dir() -> str:
    """The fax dir as the controller sees it: the same path (a shared volume), except for a
    sandbox instance, whose tree lives inside the chroot (scripts/asterisk-sandbox)."""
    explicit = os.environ.get("VOIP_FAX_DIR")
    instance = _env("VOIP_ASTERISK_INSTANCE_DIR", "")
    if explicit or not instance:
        return explicit or _default_fax_dir()
    root = _env("VOIP_SANDBOX_DIR", "/var/cache/voip-sandbox/sid").rstrip("/")
    return f"{root}{instance}/spool/fax"


def _default_vm_media_local_dir() -> str:
    """The voicemail media dir as the controller sees it: the same path (a shared volume), except
    for a sandbox instance, whose tree lives inside the chroot (scripts/asterisk-sandbox)."""
    explicit = os.environ.get("VOIP_VM_MEDIA_DIR")
    instance = _env("VOIP_ASTERISK_INSTANCE_DIR", "")
    if explicit or not instance:
        return explicit or _default_vm_media_dir()
    root = _env("VOIP_SANDBOX_DIR", "/var/cache/voip-sandbox/sid").rstrip("/")
    return f"{root}{instance}/spool/voicemail"


def _default_asterisk_config_dir() -> str:
    """Asterisk's config dir as the panel sees it (the admin writes extensions_admin.conf there):
    a sandbox instance's etc inside the chroot, else Debian's /etc/asterisk."""
    instance = _env("VOIP_ASTERISK_INSTANCE_DIR", "")
    if not instance:
        return "/etc/asterisk"
    root = _env("VOIP_SANDBOX_DIR", "/var/cache/voip-sandbox/sid").rstrip("/")
    return f"{root}{instance}/etc"


def _default_fax_dir() -> str:
    instance = _env("VOIP_ASTERISK_INSTANCE_DIR", "")
    return f"{instance}/spool/fax" if instance else "/var/spool/asterisk/fax"


@dataclass(frozen=True)
class Settings:
    # PostgreSQL: the single source of truth, also read by Asterisk (realtime + CDR)
    db_host: str = field(default_factory=lambda: _env("VOIP_DB_HOST", "127.0.0.1"))
    db_port: int = field(default_factory=lambda: _int("VOIP_DB_PORT", 5432))
    db_name: str = field(default_factory=lambda: _env("VOIP_DB_NAME", "voip"))
    db_user: str = field(default_factory=lambda: _env("VOIP_DB_USER", "postgres"))
    db_password: str = field(default_factory=lambda: _env("VOIP_DB_PASSWORD", ""))

    # Asterisk, as reached by the controller and the panel
    asterisk_host: str = field(default_factory=lambda: _env("VOIP_ASTERISK_HOST", "127.0.0.1"))
    sip_port: int = field(default_factory=lambda: _int("VOIP_SIP_PORT", 5060))
    sip_realm: str = field(default_factory=lambda: _env("VOIP_SIP_REALM", "voip.local"))
    # issue 16: the SIP server's name as phones reach it (the panel's Phone setup page and QR
    # code); empty: the realm (a realm that is the SIP domain resolves to the server)
    sip_public_host: str = field(default_factory=lambda: _env("VOIP_SIP_PUBLIC_HOST", ""))
    rtp_start: int = field(default_factory=lambda: _int("VOIP_RTP_START", 10000))
    rtp_end: int = field(default_factory=lambda: _int("VOIP_RTP_END", 10999))
    ami_port: int = field(default_factory=lambda: _int("VOIP_AMI_PORT", 5038))
    # Asterisk's verbose level in messages.log: 3 logs every dialplan step (the tests read
    # them); at production call rates those lines cost Asterisk CPU on every call
    asterisk_verbose: int = field(default_factory=lambda: _int("VOIP_ASTERISK_VERBOSE", 3))
    ami_user: str = field(default_factory=lambda: _env("VOIP_AMI_USER", "controller"))
    ami_secret: str = field(default_factory=lambda: _env("VOIP_AMI_SECRET", "controller-ami-secret"))
    ari_port: int = field(default_factory=lambda: _int("VOIP_ARI_PORT", 8088))
    ari_user: str = field(default_factory=lambda: _env("VOIP_ARI_USER", "controller"))
    ari_password: str = field(default_factory=lambda: _env("VOIP_ARI_PASSWORD", "controller-ari-secret"))
    ari_app: str = field(default_factory=lambda: _env("VOIP_ARI_APP", "voip"))
    # Where Asterisk keeps this instance's dirs (the sandbox runs several side by side)
    asterisk_instance_dir: str = field(default_factory=lambda: _env("VOIP_ASTERISK_INSTANCE_DIR", ""))
    asterisk_modules_dir: str = field(
        default_factory=lambda: _env(
            "VOIP_ASTERISK_MODULES_DIR", "/usr/lib/x86_64-linux-gnu/asterisk/modules"
        )
    )
    # Asterisk's config dir as the panel sees it (a shared volume in production): the operator
    # admin writes the dialplan overrides (extensions_admin.conf) there, then reloads over AMI
    asterisk_config_dir: str = field(
        default_factory=lambda: _env("VOIP_ASTERISK_CONFIG_DIR", _default_asterisk_config_dir())
    )

    # Extra AMI permits (CIDRs, comma separated) beyond loopback, for containers
    ami_permit: str = field(default_factory=lambda: _env("VOIP_AMI_PERMIT", ""))
    # PSTN, the default trunk (911, and with carriers what no carrier reaches): with a trunk
    # host, calls leave through the PJSIP endpoint `pstn-trunk` (asterisk_conf/render.py
    # TRUNK_ENDPOINT); VOIP_PSTN_DIAL, when set, names where they go instead ({number} is
    # replaced). With neither, the simulated PSTN context that answers, is busy or rings out by
    # number (the demo, the sandbox): the controller says so loudly when it starts.
    pstn_trunk_host: str = field(default_factory=lambda: _env("VOIP_PSTN_TRUNK_HOST", ""))
    pstn_dial: str = field(
        default_factory=lambda: _env(
            "VOIP_PSTN_DIAL",
            "PJSIP/{number}@pstn-trunk" if _env("VOIP_PSTN_TRUNK_HOST", "") else SIM_PSTN_DIAL,
        )
    )

    # Calling card: access numbers (DIDs, comma separated) and guessing limits
    callingcard_numbers: str = field(default_factory=lambda: _env("VOIP_CALLINGCARD_NUMBERS", "18665550100"))
    pin_max_failures: int = field(default_factory=lambda: _int("VOIP_PIN_MAX_FAILURES", 5))
    pin_failure_window_s: int = field(default_factory=lambda: _int("VOIP_PIN_FAILURE_WINDOW", 900))
    pin_lock_s: int = field(default_factory=lambda: _int("VOIP_PIN_LOCK", 1800))
    # --- issue 13, PIN model (docs/fraud.md "PINs"): calling-card and conference PIN limits
    # wrong PINs per card (whatever the caller ID) within the window lock the card this long
    card_pin_max_failures: int = field(default_factory=lambda: _int("VOIP_CARD_PIN_MAX_FAILURES", 5))
    card_pin_window_s: int = field(default_factory=lambda: _int("VOIP_CARD_PIN_WINDOW", 3600))
    card_pin_lock_s: int = field(default_factory=lambda: _int("VOIP_CARD_PIN_LOCK", 3600))
    # wrong PINs per access number (all cards, all callers) within the window: beyond it, PIN
    # entry on that number is refused (pin_locked) until the window has passed
    pin_budget: int = field(default_factory=lambda: _int("VOIP_PIN_BUDGET", 30))
    pin_budget_window_s: int = field(default_factory=lambda: _int("VOIP_PIN_BUDGET_WINDOW", 3600))
    # the same for the conference service (all its access numbers together)
    conference_pin_budget: int = field(default_factory=lambda: _int("VOIP_CONFERENCE_PIN_BUDGET", 30))
    # --- end issue 13, PIN model

    # Conferences: dial-in access numbers (comma separated) -> Stasis app `conference`; the
    # toll-free ones let a caller in only when the conference allows 800 dial-in
    conference_numbers: str = field(default_factory=lambda: _env("VOIP_CONFERENCE_NUMBERS", "16465550150"))
    conference_tollfree_numbers: str = field(
        default_factory=lambda: _env("VOIP_CONFERENCE_TOLLFREE_NUMBERS", "18664487747")
    )
    # callers may come in this many minutes before the scheduled start
    conference_early_minutes: int = field(default_factory=lambda: _int("VOIP_CONFERENCE_EARLY_MINUTES", 10))
    conference_pin_tries: int = field(default_factory=lambda: _int("VOIP_CONFERENCE_PIN_TRIES", 3))
    # seconds a caller has to key the PIN (from the prompt's start; each key restarts it)
    conference_pin_timeout: float = field(
        default_factory=lambda: float(_env("VOIP_CONFERENCE_PIN_TIMEOUT", "10"))
    )
    # how often the lifecycle sweep expires overdue conferences (timers do it on time)
    conference_sweep_s: float = field(default_factory=lambda: float(_env("VOIP_CONFERENCE_SWEEP", "30")))

    # The controller's FastAGI server, as Asterisk reaches it
    agi_bind: str = field(default_factory=lambda: _env("VOIP_AGI_BIND", "127.0.0.1"))
    agi_host: str = field(default_factory=lambda: _env("VOIP_AGI_HOST", "127.0.0.1"))
    agi_port: int = field(default_factory=lambda: _int("VOIP_AGI_PORT", 4573))
    health_port: int = field(default_factory=lambda: _int("VOIP_HEALTH_PORT", 8090))
    # issue 17, several controllers (docs/scaling.md section 1): the AGI URL Asterisk's dialplan
    # calls, overriding agi://VOIP_AGI_HOST:VOIP_AGI_PORT; `hagi://agi.example` (no port) makes
    # Asterisk look up the SRV record _agi._tcp.agi.example on every AGI() and try its targets
    agi_url: str = field(default_factory=lambda: _env("VOIP_AGI_URL", ""))
    # issue 17, several Asterisk nodes (docs/scaling.md section 2): this node's name, rendered as
    # asterisk.conf's systemname (contacts' reg_server, uniqueids `<name>-<epoch>.<n>`); the
    # controller that holds a node's AMI and ARI is given the same name, and its hold sweeper
    # judges only the holds of calls on that node (their uniqueid carries the prefix)
    asterisk_system_name: str = field(default_factory=lambda: _env("VOIP_ASTERISK_SYSTEM_NAME", ""))
    # issue 17: every Asterisk node's AMI host, comma separated (empty: VOIP_ASTERISK_HOST alone).
    # What each node caches of the realtime tables (members' endpoints, carriers) is expired on
    # all of them when the panel or voipctl changes it (controller/services/realtime_cache.py)
    asterisk_nodes: str = field(default_factory=lambda: _env("VOIP_ASTERISK_NODES", ""))
    # issue 17: the controller's Prometheus /metrics on a port of its own (0: not served), bound
    # to loopback unless VOIP_METRICS_BIND says otherwise (the operator's Prometheus only)
    metrics_port: int = field(default_factory=lambda: _int("VOIP_METRICS_PORT", 0))
    metrics_bind: str = field(default_factory=lambda: _env("VOIP_METRICS_BIND", "127.0.0.1"))
    # the panel's /metrics answers only a request with `Authorization: Bearer <this>` (empty: not
    # served); webpanel/metrics.py
    panel_metrics_token: str = field(default_factory=lambda: _env("VOIP_PANEL_METRICS_TOKEN", ""), repr=False)

    # The panel
    panel_host: str = field(default_factory=lambda: _env("VOIP_PANEL_HOST", "127.0.0.1"))
    panel_port: int = field(default_factory=lambda: _int("VOIP_PANEL_PORT", 8080))
    # The panel's public address as members reach it (scheme://host[:port], no trailing path):
    # links in emails (password reset) are built on it, never on a request's Host header, which
    # whoever sends the request chooses. Default: the panel's own loopback address.
    panel_url: str = field(default_factory=lambda: _env("VOIP_PANEL_URL", ""))
    # How long a "Forgot password" link stays usable, in minutes
    password_reset_minutes: int = field(default_factory=lambda: _int("VOIP_PASSWORD_RESET_MINUTES", 30))
    # Secure cookies: on unless the panel is served on loopback over plain http
    panel_secure_cookie: str = field(default_factory=lambda: _env("VOIP_PANEL_SECURE_COOKIE", "auto"))
    # --- issue 13: panel sessions and login limits (docs/fraud.md, "Panel sessions and logins")
    # a session ends this long after login whatever happens, and after this long without a request
    panel_session_hours: int = field(default_factory=lambda: _int("VOIP_PANEL_SESSION_HOURS", 12))
    panel_idle_minutes: int = field(default_factory=lambda: _int("VOIP_PANEL_IDLE_MINUTES", 30))
    # failed logins allowed per window: from one client address (all logins together), on one
    # login from one address, and on one login from all addresses together
    panel_login_window_minutes: int = field(
        default_factory=lambda: _int("VOIP_PANEL_LOGIN_WINDOW_MINUTES", 15)
    )
    panel_login_per_address: int = field(default_factory=lambda: _int("VOIP_PANEL_LOGIN_PER_ADDRESS", 20))
    panel_login_per_login: int = field(default_factory=lambda: _int("VOIP_PANEL_LOGIN_PER_LOGIN", 5))
    panel_login_per_login_total: int = field(
        default_factory=lambda: _int("VOIP_PANEL_LOGIN_PER_LOGIN_TOTAL", 50)
    )
    # how many reverse proxies in front of the panel set X-Forwarded-For/-Proto (0: none, the
    # headers are ignored; 1: one TLS proxy, whose headers give the client address and https)
    panel_trusted_proxies: int = field(default_factory=lambda: _int("VOIP_PANEL_TRUSTED_PROXIES", 0))
    # --- end issue 13 panel sessions
    # issue 16: operator admins must turn on two-factor login before they reach any admin page
    admin_2fa_required: bool = field(
        default_factory=lambda: (
            _env("VOIP_ADMIN_2FA_REQUIRED", "no").strip().lower() in ("1", "yes", "true", "on")
        )
    )
    secret_key: str = field(default_factory=lambda: _env("VOIP_SECRET_KEY", "dev-only-change-me"))
    # Keyed hash for calling-card PINs (HMAC); rotating it invalidates every PIN
    pin_hmac_key: str = field(default_factory=lambda: _env("VOIP_PIN_KEY", "dev-only-pin-key"))
    # The external payment portal's top-up API (POST /api/topup): the shared HMAC-SHA256 secret
    # its requests are signed with (empty: the API answers 503, top-ups are off) and the largest
    # amount one top-up may add, in US dollars
    topup_secret: str = field(default_factory=lambda: _env("VOIP_TOPUP_SECRET", ""), repr=False)
    topup_max_amount: Decimal = field(default_factory=lambda: Decimal(_env("VOIP_TOPUP_MAX", "500.00")))

    # Email
    smtp_host: str = field(default_factory=lambda: _env("VOIP_SMTP_HOST", "127.0.0.1"))
    smtp_port: int = field(default_factory=lambda: _int("VOIP_SMTP_PORT", 8025))
    mail_from: str = field(default_factory=lambda: _env("VOIP_MAIL_FROM", "noreply@voip.local"))
    # STARTTLS and login are off unless set (the loopback relay of the sandbox needs neither)
    smtp_starttls: bool = field(
        default_factory=lambda: _env("VOIP_SMTP_STARTTLS", "no").lower() in ("1", "yes", "true", "on")
    )
    smtp_user: str = field(default_factory=lambda: _env("VOIP_SMTP_USER", ""))
    smtp_password: str = field(default_factory=lambda: _env("VOIP_SMTP_PASSWORD", ""), repr=False)
    smtp_timeout: float = field(default_factory=lambda: float(_env("VOIP_SMTP_TIMEOUT", "30")))
    # Connection errors and 4xx answers are retried: attempts in all, delay doubling each time
    smtp_attempts: int = field(default_factory=lambda: _int("VOIP_SMTP_ATTEMPTS", 3))
    smtp_retry_delay: float = field(default_factory=lambda: float(_env("VOIP_SMTP_RETRY_DELAY", "1")))
    # The demo's mail catcher (controller/services/mailcatcher, started by `make up`): the directory
    # it keeps every message in, which the operator admin's Demo Mail page reads. Empty (the
    # default, and production): no catcher; mail goes to the SMTP server above.
    demo_mailbox: str = field(default_factory=lambda: _env("VOIP_DEMO_MAILBOX", ""))
    # --- issue 15, invoices (db/invoices.py, controller/services/invoicing.py): the letterhead
    # of the monthly invoice PDFs (the address's lines separated by "|"), and how often the
    # controller looks for last month's invoices to issue and email (seconds; 0: never)
    operator_name: str = field(default_factory=lambda: _env("VOIP_OPERATOR_NAME", "VoIP Operator"))
    operator_address: str = field(default_factory=lambda: _env("VOIP_OPERATOR_ADDRESS", ""))
    invoice_check_s: int = field(default_factory=lambda: _int("VOIP_INVOICE_CHECK_S", 3600))
    # --- end issue 15, invoices
    # issue 16: how often the controller looks for notification emails to send (missed calls,
    # voicemail retries, low balance, weekly summaries; controller/services/notifications.py), s; 0: never
    notify_check_s: int = field(default_factory=lambda: _int("VOIP_NOTIFY_CHECK_S", 60))

    # Fax-to-email: the directory ReceiveFAX writes TIFFs into, twice: as Asterisk sees it
    # (default: the instance's spool/fax, or Debian's /var/spool/asterisk/fax) and as the
    # controller sees it (default: the same path, i.e. a shared volume mounted at the same place;
    # the sandbox chroot puts it under <chroot>/instances/<name>/spool/fax on the host)
    fax_dir: str = field(default_factory=lambda: _env("VOIP_FAX_DIR", _default_fax_dir()))
    fax_local_dir: str = field(default_factory=lambda: _env("VOIP_FAX_LOCAL_DIR", _default_fax_local_dir()))
    # Longest fax reception the controller waits for (the AGI EXEC ReceiveFAX answer), seconds
    fax_timeout: float = field(default_factory=lambda: float(_env("VOIP_FAX_TIMEOUT", "3600")))

    # Voicemail (ari_apps/voicemail): access numbers (DIDs, comma separated) for retrieval from
    # any phone, and the feature code a member dials from their own device
    voicemail_numbers: str = field(default_factory=lambda: _env("VOIP_VOICEMAIL_NUMBERS", "18665550199"))
    vm_feature_code: str = field(default_factory=lambda: _env("VOIP_VM_FEATURE_CODE", "*98"))
    # A message: at most this long; ended after this much silence; shorter ones are discarded
    vm_max_message_s: int = field(default_factory=lambda: _int("VOIP_VM_MAX_MESSAGE", 180))
    vm_max_silence_s: int = field(default_factory=lambda: _int("VOIP_VM_MAX_SILENCE", 5))
    vm_min_message_s: float = field(default_factory=lambda: float(_env("VOIP_VM_MIN_MESSAGE", "1")))
    # Retrieval: wrong passwords per call before goodbye; failures per mailbox (any number of
    # calls, within VOIP_PIN_FAILURE_WINDOW) that lock it for VOIP_PIN_LOCK seconds
    vm_login_attempts: int = field(default_factory=lambda: _int("VOIP_VM_LOGIN_ATTEMPTS", 3))
    vm_login_max_failures: int = field(default_factory=lambda: _int("VOIP_VM_LOGIN_MAX_FAILURES", 10))
    # Seconds the retrieval menu waits for a key (or for the next digit of a password)
    vm_menu_timeout_s: float = field(default_factory=lambda: float(_env("VOIP_VM_MENU_TIMEOUT", "8")))
    # Where greetings and messages are written for Asterisk to play, twice like the fax dir: as
    # Asterisk sees it (default: the instance's spool/voicemail, unused by app_voicemail here) and
    # as the controller sees it (default: the same path; for a sandbox instance, inside its chroot)
    vm_media_dir: str = field(default_factory=lambda: _env("VOIP_VM_MEDIA_DIR", _default_vm_media_dir()))
    vm_media_local_dir: str = field(
        default_factory=lambda: _env("VOIP_VM_MEDIA_LOCAL_DIR", _default_vm_media_local_dir())
    )

    log_level: str = field(default_factory=lambda: _env("VOIP_LOG_LEVEL", "INFO"))
    # the controller rates CDRs as they arrive; "off" leaves them queued for `voipctl rate`
    # or another controller (benchmarks, a dedicated rating host)
    rater: str = field(default_factory=lambda: _env("VOIP_RATER", "on"))

    # --- issue 13, holds (controller/services/holds.py) ---
    # every this many seconds the sweeper asks Asterisk which channels live and releases the
    # holds whose call is gone (0: no sweeper); a gone call's hold is released once it has been
    # gone this long without a CDR naming it (an answered call's CDR settles it when rated)
    hold_sweep_s: float = field(default_factory=lambda: float(_env("VOIP_HOLD_SWEEP_SECONDS", "3")))
    hold_orphan_grace_s: float = field(
        default_factory=lambda: float(_env("VOIP_HOLD_ORPHAN_GRACE_SECONDS", "6"))
    )
    # sliced holds: a billable call holds this many seconds' money at first (0: its whole
    # maximum length, as before), and the controller adds a slice while the call lasts, once
    # the call has this many seconds left (keep it well above the sweep interval)
    hold_slice_s: int = field(default_factory=lambda: _int("VOIP_HOLD_SLICE_SECONDS", 300))
    hold_extend_before_s: int = field(default_factory=lambda: _int("VOIP_HOLD_EXTEND_BEFORE_SECONDS", 45))
    # --- end issue 13, holds ---

    # --- issue 13, spending limits (controller/rules/limits.py, db/limits.py) ---
    # The defaults of an account the operator has not tuned (admin, account page, Spending
    # limits): the ceilings of its daily spend and international daily spend (dollars of
    # pay-as-you-go credit per day in the account's time zone), the highest per-minute rate it may
    # call, the calls it may have in progress at once (0: no limit), and the velocity rule: more
    # than VOIP_VELOCITY_INTL_ATTEMPTS international calls, or more than VOIP_VELOCITY_AMOUNT
    # spent, within VOIP_VELOCITY_MINUTES stops the account's billable calls until the operator
    # lifts it (admin, Fraud). VOIP_FRAUD_EMAIL: the operator's address for those alerts.
    daily_cap_default: Decimal = field(default_factory=lambda: Decimal(_env("VOIP_DAILY_CAP", "100.00")))
    intl_daily_cap_default: Decimal = field(
        default_factory=lambda: Decimal(_env("VOIP_INTL_DAILY_CAP", "20.00"))
    )
    max_rate_default: Decimal = field(default_factory=lambda: Decimal(_env("VOIP_MAX_RATE", "2.00")))
    max_concurrent_default: int = field(default_factory=lambda: _int("VOIP_MAX_CONCURRENT", 0))
    velocity_intl_attempts: int = field(default_factory=lambda: _int("VOIP_VELOCITY_INTL_ATTEMPTS", 10))
    velocity_amount: Decimal = field(default_factory=lambda: Decimal(_env("VOIP_VELOCITY_AMOUNT", "100.00")))
    velocity_minutes: int = field(default_factory=lambda: _int("VOIP_VELOCITY_MINUTES", 10))
    fraud_email: str = field(default_factory=lambda: _env("VOIP_FRAUD_EMAIL", "fraud@voip.local"))
    # --- end issue 13, spending limits ---

    # --- issue 14, carriers: how many carriers one call may try (controller/rules/routing.py) ---
    route_max_attempts: int = field(default_factory=lambda: _int("VOIP_ROUTE_MAX_ATTEMPTS", 3))
    # a destination no enabled carrier reaches leaves through the default trunk (VOIP_PSTN_DIAL,
    # the single trunk of before carriers) when on; refused (not in service) when off
    route_fallback: bool = field(
        default_factory=lambda: _env("VOIP_ROUTE_FALLBACK", "yes").lower() in ("1", "yes", "true", "on")
    )
    # --- end issue 14 ---

    # --- issue 13, SIP bans (controller/services/bans.py, scripts/fail2ban) ---
    # the control socket of the fail2ban-server whose bans the operator sees and lifts: the
    # system's (/run/fail2ban/fail2ban.sock) in production, scripts/up's for the sandbox
    fail2ban_socket: str = field(
        default_factory=lambda: _env("VOIP_FAIL2BAN_SOCKET", "/run/fail2ban/fail2ban.sock")
    )
    fail2ban_client: str = field(default_factory=lambda: _env("VOIP_FAIL2BAN_CLIENT", "fail2ban-client"))
    # --- end issue 13, SIP bans ---

    # --- issue 15, webhooks (controller/services/webhooks.py) ---
    # a member's webhook may not target a private/loopback address (SSRF) unless this is on (the
    # operator's may); seconds between retries ("10,30,120,...": after the last, given up); the
    # HTTP timeout; the sender's polling fallback besides LISTEN webhook_new
    webhook_allow_private: bool = field(
        default_factory=lambda: (
            _env("VOIP_WEBHOOK_ALLOW_PRIVATE", "off").strip().lower() in ("1", "on", "yes", "true")
        )
    )
    webhook_backoff: str = field(
        default_factory=lambda: _env("VOIP_WEBHOOK_BACKOFF", "10,30,120,600,3600,10800,21600,43200")
    )
    webhook_timeout_s: float = field(default_factory=lambda: float(_env("VOIP_WEBHOOK_TIMEOUT", "5")))
    webhook_poll_s: float = field(default_factory=lambda: float(_env("VOIP_WEBHOOK_POLL", "5")))
    # --- end issue 15, webhooks ---

    @property
    def agi_token(self) -> str:
        """The first path segment of every FastAGI request (AGI_URL = agi://host:port/<token>):
        the controller runs a route only for a request that carries it, so a process that can
        reach the FastAGI port but not Asterisk's dialplan cannot make decisions or release
        holds (issue 13 item 10). Derived from VOIP_SECRET_KEY, so Asterisk's rendered config
        and the controller agree with nothing more to set."""
        return hmac.new(self.secret_key.encode(), b"voip-fastagi-path", hashlib.sha256).hexdigest()[:32]

    @property
    def database_url(self) -> str:
        auth = quote(self.db_user, safe="")
        if self.db_password:
            auth += ":" + quote(self.db_password, safe="")
        return f"postgresql+psycopg://{auth}@{self.db_host}:{self.db_port}/{self.db_name}"

    # issue 17, a PostgreSQL streaming replica for the panel's read-only reports (docs/scaling.md
    # section 3): empty host, no replica (reports read the primary). Same database name, user and
    # password as the primary. A replica further behind than VOIP_DB_REPORTS_MAX_LAG seconds, or
    # unreachable, is not used: reports read the primary, and the operator's status says so.
    db_reports_host: str = field(default_factory=lambda: _env("VOIP_DB_REPORTS_HOST", ""))
    db_reports_port: int = field(default_factory=lambda: _int("VOIP_DB_REPORTS_PORT", 5432))
    db_reports_max_lag_s: float = field(default_factory=lambda: float(_env("VOIP_DB_REPORTS_MAX_LAG", "30")))

    @property
    def database_reports_url(self) -> str:
        """The replica's URL (VOIP_DB_REPORTS_HOST), or "" when no replica is set."""
        if not self.db_reports_host.strip():
            return ""
        auth = quote(self.db_user, safe="")
        if self.db_password:
            auth += ":" + quote(self.db_password, safe="")
        return f"postgresql+psycopg://{auth}@{self.db_reports_host.strip()}:{self.db_reports_port}/{self.db_name}"

    def asterisk_node_settings(self) -> list[Settings]:
        """These settings once per Asterisk node (VOIP_ASTERISK_NODES), each with that node as
        its asterisk_host; just these settings when no node list is set."""
        hosts = [h.strip() for h in self.asterisk_nodes.split(",") if h.strip()]
        if not hosts:
            return [self]
        return [self if h == self.asterisk_host else replace(self, asterisk_host=h) for h in hosts]

    @property
    def ari_base_url(self) -> str:
        return f"http://{self.asterisk_host}:{self.ari_port}/ari"

    @property
    def panel_base_url(self) -> str:
        """VOIP_PANEL_URL without its trailing slash, else the panel's own address."""
        if self.panel_url.strip():
            return self.panel_url.strip().rstrip("/")
        host = "127.0.0.1" if self.panel_host in ("0.0.0.0", "::", "") else self.panel_host
        return f"http://{host}:{self.panel_port}"


def load() -> Settings:
    return Settings()
