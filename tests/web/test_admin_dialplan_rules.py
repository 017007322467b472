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
 same => n,GotoIf($["${CALLERID(num)}" = ""]?top)
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
