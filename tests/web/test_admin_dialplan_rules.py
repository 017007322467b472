"""What an operator admin may write into the dialplan (asterisk_conf.overrides), checked against
the extensions.conf the templates render: allowed shapes pass, and every way into a shell, a
file, the AGI routing or a generated context is refused with its line."""

from __future__ import annotations

import pytest

from asterisk_conf import overrides
from asterisk_conf.render import render_all
from controller.settings import load


@pytest.fixture(scope="module")
def generated() -> str:
    return render_all(load())["extensions.conf"]


def test_the_allowed_shapes_pass(generated):
    body = """; feature codes
[members]
exten => *43,1,Goto(admin-echo,s,1)   ; echo test
exten => *4#,1,Playback(tt-monkeys)
 same => n,Hangup()

[admin-echo]
include => admin-more
exten => s,1(top),Answer()
 same => n,Set(CDR(userfield)=echo)
 same => n,GotoIf($["${FILTER(0-9,${CALLERID(num)})}" = ""]?top)
 same => n,Echo()
[admin-more]
exten => _9X,1,SayDigits(${EXTEN:1})
[sim-pstn]
exten => 15551230000,1,Busy(3)
exten => _1555999XXXX,1,Congestion()
"""
    assert overrides.validate(body, generated=generated) == []


@pytest.mark.parametrize(
    "body, message",
    [
        ("exten => 1,1,NoOp()", "Line 1: A line before the first [context]."),
        ("[members]\nexten => 18005551212,1,NoOp()", "Line 2: In [members] only feature codes are allowed"),
        ("[members]\nexten => _*X.,1,NoOp()", "Line 2: In [members] only feature codes are allowed"),
        ("[members]\nexten => *98,1,NoOp()", "Line 2: Extension *98 of [members] is generated"),
        ("[members]\nexten => *43/100,1,NoOp()", "caller ID matching is not allowed"),
        ("[incoming]\nexten => 1,1,NoOp()", "Line 1: [incoming] is generated"),
        ("[dial-out]\nexten => x,1,NoOp()", "Line 1: [dial-out] is generated"),
        ("[refused]\nexten => x,1,NoOp()", "Line 1: [refused] is generated"),
        ("[globals]\nAGI_URL = agi://evil", "Line 1: [globals] is generated"),
        ("[Admin-X]\nexten => s,1,NoOp()", "Line 1: [Admin-X] is not an overridable context"),
        ("[sim-pstn]\nexten => _X.,1,Hangup()", "Line 2: Extension _X. of [sim-pstn] is generated"),
        ("[admin-x]\nexten => s,1,System(id)", "Application System is not allowed"),
        ("[admin-x]\nexten => s,1,TrySystem(id)", "Application TrySystem is not allowed"),
        ("[admin-x]\nexten => s,1,AGI(agi://evil/x)", "Application AGI is not allowed"),
        ("[admin-x]\nexten => s,1,ExecIf($[1]?System(id))", "Application ExecIf is not allowed"),
        ("[admin-x]\nexten => s,1,MixMonitor(x.wav,,rm -rf /)", "Application MixMonitor is not allowed"),
        ("[admin-x]\nexten => s,1,Record(/etc/asterisk/x.wav)", "Application Record is not allowed"),
        ("[admin-x]\nexten => s,1,ChanSpy(PJSIP)", "Application ChanSpy is not allowed"),
        ("[admin-x]\nexten => s,1,Voicemail(1)", "Application Voicemail is not among those allowed"),
        ("[admin-x]\nexten => s,1,Set(X=${SHELL(id)})", "Function SHELL() is not allowed"),
        ("[admin-x]\nexten => s,1,Set(X=${shell(id)})", "Function shell() is not allowed"),
        ("[admin-x]\nexten => s,1,Set(FILE(/etc/passwd)=x)", "Function FILE() is not allowed"),
        (
            "[admin-x]\nexten => s,1,NoOp(${AST_CONFIG(manager.conf,controller,secret)})",
            "Function AST_CONFIG()",
        ),
        ("[admin-x]\nexten => s,1,NoOp(${ENV(VOIP_SECRET_KEY)})", "Function ENV() is not allowed"),
        ("[admin-x]\nexten => s,1,NoOp(${EVAL(${X})})", "Function EVAL() is not allowed"),
        ("[admin-x]\nexten => s,1,Set(GLOBAL(AGI_URL)=agi://evil)", "Function GLOBAL() is not allowed"),
        ("[admin-x]\nexten => s,1,NoOp(${AGI_URL})", "AGI routing (AGI_URL) is not overridable"),
        ("[admin-x]\nexten => s,1,NoOp(${SH${X}ELL(id)})", "a name computed from ${...} is not allowed"),
        ("[admin-x]\nexten => s,1,Set(${X}=1)", "Set: the variable it sets must be written out"),
        ("[admin-x]\nexten => s,1,Read(${X},beep)", "Read: the variable it sets must be written out"),
        ("[admin-x]\nexten => s,1,NoOp((", "is not Application(arguments)"),
        ("[admin-x]\nexten => s,1,NoOp(${X)", "Unbalanced parentheses, braces or brackets."),
        ("[admin-x]\nexten => s,n,NoOp()", "An exten => line starts at priority 1"),
        ("[admin-x]\n same => n,NoOp()", "same => needs an exten => line above it"),
        (
            "[admin-x]\nexten => s,1,NoOp()\nexten => s,1,Hangup()",
            "Line 3: Extension s of [admin-x] is already defined",
        ),
        ("[admin-x]\ninclude => incoming", "[incoming] may not be included"),
        ("[admin-x]\ninclude => admin-nowhere", "there is no [admin-nowhere] context here"),
        (
            "[members]\ninclude => admin-x\n[admin-x]\nexten => s,1,NoOp()",
            "include => is only allowed in your own",
        ),
        ("[admin-x]\nswitch => Realtime/foo", "switch => is not allowed here"),
        ("#include /etc/passwd", "#include is not allowed"),
        ("#exec /bin/sh -c id", "#exec is not allowed"),
        (
            "[admin-x](+)\nexten => s,1,NoOp()",
            "Context templates and options such as (+) or (!) are not allowed.",
        ),
        (";-- block\ncomment --;", "Block comments"),
        ("[admin-x]\nexten => s,1,NoOp(\x07)", "control characters"),
    ],
)
def test_every_forbidden_construct_is_refused_with_its_line(generated, body, message):
    problems = [str(p) for p in overrides.validate(body, generated=generated)]
    assert any(message in p for p in problems), problems


def test_too_long_is_refused(generated):
    problems = overrides.validate("; x\n" * (overrides.MAX_LINES + 1), generated=generated)
    assert problems and "more than" in str(problems[0])


def test_an_escaped_semicolon_is_not_a_comment():
    parsed = overrides.parse("[admin-x]\nexten => s,1,NoOp(a\\;System(id))\n")
    assert any("System" in str(p) for p in parsed.problems)


# --- issue 13 item 9: no way around billing and the LD permissions ---------------------------

IVR = "[admin-ivr]\nexten => s,1,Read(CHOICE,beep,11)\n"


def test_the_allowed_jump_and_dial_shapes_pass(generated):
    body = """[members]
exten => *44,1,Goto(admin-ivr,s,1)
[admin-ivr]
exten => s,1(top),Read(CHOICE,beep,4)
 same => n,GotoIf($["${CHOICE}" = ""]?top:admin-menu,${CHOICE},1)
 same => n,GosubIf($[${CHOICE:0:1} = 9]?admin-menu,s,1(${CHOICE}):admin-menu,s,1)
 same => n,Gosub(admin-menu,s,1(${CALLERID(name)}))
 same => n,Goto(admin-menu,${FILTER(0-9*#,${CHOICE})},1)
 same => n,GotoIfTime(09:00-17:00,mon-fri,*,*?admin-menu,s,1)
 same => n,Dial(Local/s@admin-menu/n&Local/1@admin-menu,30,tTm(default))
 same => n,Background(menu,,,admin-menu)
 same => n,Set(CDR(userfield)=ivr)
 same => n,MSet(A=1,B=${CALLERID(num)})
[admin-menu]
exten => s,1,Playback(hello)
 same => n,Return()
exten => _X.,1,SayDigits(${EXTEN})
"""
    assert overrides.validate(body, generated=generated) == []


@pytest.mark.parametrize(
    "body, message",
    [
        # a feature code that reads digits and dials the PSTN: trunk, endpoints, URIs, computed
        (
            IVR + " same => n,Dial(PJSIP/${CHOICE}@trunk)",
            "Dial: the target, timeout and options must be written out",
        ),
        (IVR + " same => n,Dial(PJSIP/18005551212@trunk)", "an override may only Dial Local/"),
        (IVR + " same => n,Dial(PJSIP/trunk/sip:18005551212@carrier)", "an override may only Dial Local/"),
        (IVR + " same => n,Dial(PJSIP/17005550123)", "an override may only Dial Local/"),
        (IVR + " same => n,Dial(SIP/18005551212@trunk)", "an override may only Dial Local/"),
        (IVR + " same => n,Dial(IAX2/evil/18005551212)", "an override may only Dial Local/"),
        (IVR + " same => n,Dial(Local/18005551212@sim-pstn)", "an override may only Dial Local/"),
        (IVR + " same => n,Dial(Local/18005551212@dial-out)", "an override may only Dial Local/"),
        (IVR + " same => n,Dial(Local/${CHOICE}@fwd-out/n)", "must be written out"),
        (IVR + " same => n,Dial(Local/s@admin-ivr&PJSIP/x@trunk)", "Dial(PJSIP/x@trunk)"),
        (IVR + " same => n,Dial(Local/s@admin-ivr,30,G(dial-out^dial^1))", "options that run dialplan"),
        (IVR + " same => n,Dial(Local/s@admin-ivr,30,U(sub))", "options that run dialplan"),
        (IVR + " same => n,Dial(Local/s@admin-ivr,30,F(dial-out^dial^1))", "options that run dialplan"),
        (IVR + " same => n,Dial(Local/s@admin-ivr,30,b(dial-out^dial^1))", "options that run dialplan"),
        (IVR + " same => n,Dial(Local/s@admin-ivr,30,X)", "options that run dialplan or record"),
        # jumps into the generated contexts that bill, carry out decisions or reach the PSTN
        (IVR + " same => n,Goto(dial-out,dial,1)", "Goto into [dial-out] is not allowed"),
        (IVR + " same => n,Goto(billed-out,${CHOICE},1)", "Goto into [billed-out] is not allowed"),
        (IVR + " same => n,Goto(fwd-out,18005551212,1)", "Goto into [fwd-out] is not allowed"),
        (IVR + " same => n,Goto(sim-pstn,18005551212,1)", "Goto into [sim-pstn] is not allowed"),
        (IVR + " same => n,Goto(incoming,17005550123,1)", "Goto into [incoming] is not allowed"),
        (IVR + " same => n,Goto(members,${CHOICE},1)", "Goto into [members] is not allowed"),
        (IVR + " same => n,Goto(voip-test,x,1)", "Goto into [voip-test] is not allowed"),
        (IVR + " same => n,Gosub(dial-out,dial,1)", "Gosub into [dial-out] is not allowed"),
        (IVR + " same => n,Gosub(dial-out,release,1(x))", "Gosub into [dial-out] is not allowed"),
        (IVR + " same => n,GotoIf($[1]?dial-out,dial,1)", "GotoIf into [dial-out] is not allowed"),
        (
            IVR + " same => n,GotoIf($[1]?admin-ivr,s,1:billed-out,1,1)",
            "GotoIf into [billed-out] is not allowed",
        ),
        (IVR + " same => n,GosubIf($[1]?dial-out,dial,1)", "GosubIf into [dial-out] is not allowed"),
        (IVR + " same => n,GotoIfTime(*,*,*,*?dial-out,dial,1)", "GotoIfTime into [dial-out] is not allowed"),
        (IVR + " same => n,Background(menu,,,dial-out)", "Background: digits may only jump into your own"),
        (IVR + " same => n,Goto(admin-nowhere,s,1)", "Goto into [admin-nowhere] is not allowed"),
        # targets computed from what the caller controls
        (IVR + " same => n,Goto(${CTX},s,1)", "Goto: the context may not be computed"),
        (
            IVR + " same => n,Goto(${CHOICE})",
            "the priority or label '${CHOICE}' must be written out",
        ),
        ("[members]\nexten => *45,1,Read(N,beep)\n same => n,Goto(${N},1)", "not in [members]"),
        (IVR + " same => n,Goto(admin-ivr,${CALLERID(name)},1)", "is not digits by construction"),
        (IVR + " same => n,Goto(admin-ivr,${EXTEN},1)", "is not digits by construction"),
        (IVR + " same => n,Goto(admin-ivr,s,${CHOICE})", "must be written out"),
        (
            IVR + " same => n,Set(CHOICE=${CALLERID(name)})\n same => n,Goto(admin-ivr,${CHOICE},1)",
            "is not digits by construction",
        ),
        (IVR + " same => n,GotoIf(${CALLERID(name)}?admin-ivr,s,1)", "is not digits by construction"),
        (
            IVR + ' same => n,GotoIf($["${CALLERID(name)}" = "1"]?admin-ivr,s,1)',
            "is not digits by construction",
        ),
        (IVR + ' same => n,GotoIf($["a:b" = "1"]?admin-ivr,s,1)', "but not ? : ,"),
        (IVR + " same => n,GotoIfTime(${T},*,*,*?admin-ivr,s,1)", "the times must be written out"),
        (
            IVR + " same => n,Stasis(${APP},voicemail-main,${CHOICE})",
            "Stasis: the application and its arguments",
        ),
        # FILTER whose ranges let : ? , through, an expression that writes "context,extension"
        (
            IVR + " same => n,Goto(admin-ivr,${FILTER(0-z,${CALLERID(name)})},1)",
            "is not digits by construction",
        ),
        (
            IVR + " same => n,Goto(admin-ivr,${FILTER(#-9,${CALLERID(name)})},1)",
            "is not digits by construction",
        ),
        (
            IVR + " same => n,Goto(admin-ivr,${FILTER(A-z,${CALLERID(name)})},1)",
            "is not digits by construction",
        ),
        (IVR + ' same => n,Goto($["dial-out,dial"],1)', "no $[...] expression"),
        (IVR + ' same => n,Goto(admin-ivr,$["x"],1)', "no $[...] expression"),
        # apps that move or spawn calls, wrapped or not
        (
            IVR + " same => n,ChannelRedirect(PJSIP/x,dial-out,dial,1)",
            "Application ChannelRedirect is not allowed",
        ),
        (
            IVR + " same => n,Originate(PJSIP/x@trunk,exten,dial-out,dial,1)",
            "Application Originate is not allowed",
        ),
        (IVR + " same => n,Exec(Dial(PJSIP/x@trunk))", "Application Exec is not allowed"),
        (IVR + " same => n,TryExec(Dial(PJSIP/x@trunk))", "Application TryExec is not allowed"),
        (IVR + " same => n,ExecIf($[1]?Dial(PJSIP/x@trunk))", "Application ExecIf is not allowed"),
        (IVR + " same => n,Macro(dialout,${CHOICE})", "Application Macro is not allowed"),
        (IVR + " same => n,DISA(no-password,dial-out)", "Application DISA is not allowed"),
        (IVR + " same => n,Transfer(PJSIP/x@trunk)", "Application Transfer is not allowed"),
        # writes that steer the controller, billing or Asterisk's own routing
        (
            IVR + " same => n,Set(CHANNEL(hangup_handler_push)=dial-out,dial,1)",
            "writing CHANNEL(hangup_handler_push)",
        ),
        (IVR + " same => n,Set(CALLERID(num)=17005550123)", "writing CALLERID(num) is not allowed"),
        (IVR + " same => n,Set(CDR(vnum)=17005550123)", "writing CDR(vnum) is not allowed"),
        (IVR + " same => n,Set(CDR(auth_id)=1)", "writing CDR(auth_id) is not allowed"),
        (IVR + " same => n,MSet(A=1,CDR(call_class)=L)", "writing CDR(call_class) is not allowed"),
        (IVR + " same => n,Set(VOIP_DECISION=dial)", "VOIP_DECISION is reserved"),
        (IVR + " same => n,Set(__VOIP_DIAL_TARGET=PJSIP/x@trunk)", "VOIP_DIAL_TARGET is reserved"),
        (IVR + " same => n,Set(TRANSFER_CONTEXT=dial-out)", "TRANSFER_CONTEXT is reserved"),
        (IVR + " same => n,Set(__EXITCONTEXT=dial-out)", "EXITCONTEXT is reserved"),
        (IVR + " same => n,Read(VOIP_DIAL_TARGET,beep)", "VOIP_DIAL_TARGET is reserved"),
        (IVR + " same => n,Set(X=${ODBC_BALANCE(1)})", "Function ODBC_BALANCE() is not allowed"),
        (IVR + " same => n,Set(X=${DB(secret/x)})", "Function DB() is not allowed"),
        (IVR + " same => n,Set(X=${IMPORT(PJSIP/x,VOIP_BILL_AUTH)})", "Function IMPORT() is not allowed"),
        (IVR + " same => n,Set(X=${SHELL(id)})", "Function SHELL() is not allowed"),
        (IVR + " same => n,Set(X=${FILE(/etc/asterisk/manager.conf)})", "Function FILE() is not allowed"),
        # review: GosubIf splits its destinations at ':' after substituting, so a caller's
        # ")...:dial-out,dial,1(" in an argument writes the other destination
        (
            IVR + " same => n,GosubIf($[${CHOICE} = 9]?admin-ivr,s,1(${CALLERID(name)}):admin-ivr,s,1)",
            "GosubIf: the arguments (${CALLERID(name)}) are not digits by construction",
        ),
        (IVR + ' same => n,GosubIf($[1]?admin-ivr,s,1($["x"]))', "GosubIf: the arguments"),
        # review: Read() into a builtin or a Gosub argument does not make ${EXTEN} / ${ARG1} digits
        (
            "[admin-x]\nexten => s,1,Read(EXTEN,beep)\n same => n,Goto(${EXTEN},1)",
            "not digits by construction",
        ),
        (
            "[admin-x]\nexten => s,1,Read(ARG1,beep)\n same => n,Goto(admin-x,${ARG1},1)",
            "not digits by construction",
        ),
        # review: Asterisk opens a block comment at ;-- anywhere in a line and reads what follows
        # --; as live config; this parser took the second line for a comment
        (
            "[admin-x]\nexten => s,1,NoOp() ;-- x\n; --;exten => *78,1,Dial(PJSIP/18005551212@trunk)",
            "Line 2: Block comments",
        ),
        ("[admin-x]\nexten => s,1,NoOp()\n; --;exten => *78,1,Dial(PJSIP/1@trunk)", "Line 3: Block comments"),
        (
            IVR + " same => n,SayAlpha(${AST_SORCERY(res_pjsip,auth,17005550123,password)})",
            "Function AST_SORCERY() is not allowed",
        ),
        (IVR + " same => n,Set(X=${EVAL_SUB(dial-out,dial,1)})", "Function EVAL_SUB() is not allowed"),
        # review: a line break only Python sees (str.splitlines) is one line to Asterisk, whose
        # Dial data then runs to the last ")": a second target, the trunk
        (
            "[admin-x]\nexten => s,1,Dial(Local/s@admin-x)\u2028exten => t,1,NoOp(&PJSIP/1800@trunk)",
            "Line 2: The line contains control characters",
        ),
        (
            "[admin-x]\nexten => s,1,Dial(Local/s@admin-x)\x0bexten => t,1,NoOp(&PJSIP/1800@trunk)",
            "Line 2: The line contains control characters",
        ),
        (
            "[admin-x]\nexten => s,1,Dial(Local/s@admin-x)\x85exten => t,1,NoOp(&PJSIP/1800@trunk)",
            "Line 2: The line contains control characters",
        ),
        # an admin context including the simulated PSTN: a feature code would call it unbilled
        ("[admin-x]\ninclude => sim-pstn\nexten => s,1,NoOp()", "[sim-pstn] may not be included"),
    ],
)
def test_every_way_around_billing_is_refused_with_its_line(generated, body, message):
    problems = [str(p) for p in overrides.validate(body, generated=generated)]
    assert any(message in p for p in problems), problems
    assert all(p.startswith("Line ") for p in problems), problems


def test_no_context_of_the_generated_dialplan_is_a_jump_target(generated):
    """Every context name of controller/rules/channel_vars.py and every context the templates
    render: Goto, Gosub, GotoIf and Dial(Local/...) into any of them is refused."""
    from controller.rules import channel_vars

    named = {v for k, v in vars(channel_vars).items() if k.startswith("CTX_")}
    rendered = set(overrides.parse(generated, strict=False).contexts)
    assert {"dial-out", "billed-out", "fwd-out", "members", "incoming"} <= named | rendered
    for context in sorted((named | rendered) - {"general", "globals"}):
        for line in (
            f"Goto({context},s,1)",
            f"Gosub({context},s,1)",
            f"GotoIf($[1]?{context},s,1)",
            f"Dial(Local/s@{context})",
        ):
            problems = overrides.validate(f"[admin-x]\nexten => s,1,{line}\n", generated=generated)
            assert problems, line


def test_a_stored_version_the_rules_of_today_refuse_is_not_rendered(database, factory, capsys):
    """Review: a version applied under an older, weaker validator was rendered into
    extensions_admin.conf verbatim at every config render (scripts/up), whatever today's rules
    say. It is left out now, with the reason on stderr; a valid one still comes through."""
    from db.models import DialplanVersion

    bad = "[admin-x]\nexten => s,1,NoOp() ;-- x\n; --;exten => *78,1,Dial(PJSIP/18005551212@trunk)\n"
    good = "[admin-x]\nexten => s,1,Playback(hello)\n"
    for body in (good, bad):
        with factory() as s, s.begin():
            s.add(DialplanVersion(body=body, sha256="0" * 64))
        loaded = overrides.load_applied(database)
        assert loaded == (good if body == good else None)
    assert "refused by today's rules" in capsys.readouterr().err
