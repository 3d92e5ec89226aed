"""`kurultai demo`: a civil-society working group reviewing a draft Law on Non-Governmental
Organizations. The text was written for this project.

Only the assembly's title has a field per language (`titles`); provisions, agenda items,
amendments and comments hold one text each. The demo fills them as a working group in
Kazakhstan would: the draft law, its amendments and the agenda as parallel Kazakh and Russian
texts (a law is adopted in both, and both are authentic), Kazakh first; comments in the language
their author wrote in. The assembly's title is in Kazakh, Russian and English. See docs/floor.md.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from deliberation import accounts, agenda, amendments, assemblies, comments, draft
from deliberation.context import Ctx
from deliberation.tables import User

TITLE = "Working group on the draft Law on Non-Governmental Organizations"
TITLES = {
    "en": TITLE,
    "ru": "Рабочая группа по проекту Закона «О неправительственных организациях»",
    "kk": "«Үкіметтік емес ұйымдар туралы» Заң жобасы бойынша жұмыс тобы",
}


def both(kk: str, ru: str, sep: str = "\n\n") -> str:
    """A parallel text: Kazakh, then Russian (titles joined by " / ", texts by a blank line)."""
    return f"{kk}{sep}{ru}"


def heading(kk: str, ru: str) -> str:
    return both(kk, ru, " / ")


DESCRIPTION = both(
    "Азаматтық қоғам ұйымдары, заңгерлер мен сарапшылар заң жобасын бап бойынша талқылап, түзетулер ұсынады және оларды қолданыстағы редакциямен қатар дауысқа салады.",
    "Организации гражданского общества, юристы и эксперты постатейно обсуждают законопроект, вносят поправки и ставят их на голосование вместе с действующей редакцией.",
)

ARTICLES = [
    (
        "1",
        heading("Заңның мақсаты", "Цель Закона"),
        both(
            "Осы Заң үкіметтік емес ұйымдарды құру, тіркеу, қаржыландыру және тарату тәртібін белгілейді және олардың мемлекеттік органдардан тәуелсіздігіне кепілдік береді.",
            "Настоящий Закон устанавливает порядок создания, регистрации, финансирования и ликвидации неправительственных организаций и гарантирует их независимость от государственных органов.",
        ),
    ),
    (
        "2",
        heading("Негізгі ұғымдар", "Основные понятия"),
        both(
            "Үкіметтік емес ұйым – пайда табуды негізгі мақсат етпейтін және алынған пайданы өз мүшелері арасында бөлмейтін азаматтардың немесе заңды тұлғалардың ерікті, өзін-өзі басқаратын бірлестігі.",
            "Неправительственная организация – добровольное самоуправляемое объединение граждан или юридических лиц, которое не ставит извлечение прибыли основной целью своей деятельности и не распределяет полученную прибыль между своими членами.",
        ),
    ),
    (
        "3",
        heading("Тіркеу", "Регистрация"),
        both(
            "Ұйым тіркелген сәттен бастап заңды тұлға құқығына ие болады. Тіркеуші орган отыз жұмыс күні ішінде шешім қабылдайды және тек осы Заңда көзделген негіздер бойынша ғана тіркеуден бас тарта алады.",
            "Организация приобретает права юридического лица с момента регистрации. Регистрирующий орган принимает решение в течение тридцати рабочих дней и может отказать в регистрации только по основаниям, предусмотренным настоящим Законом.",
        ),
    ),
    (
        "4",
        heading("Қаржыландыру", "Финансирование"),
        both(
            "Ұйымдар кез келген заңды көзден қайырмалдықтар, гранттар және мүшелік жарналар ала алады. Шетелдік қаржыландыру туралы тіркеуші органға әр тоқсан сайын хабарланады.",
            "Организации вправе получать пожертвования, гранты и членские взносы из любых законных источников. Об иностранном финансировании ежеквартально сообщается регистрирующему органу.",
        ),
    ),
    (
        "5",
        heading("Жария есептілік", "Публичная отчётность"),
        both(
            "Әрбір ұйым өз қызметі мен қаржысы туралы жылдық есепті өз сайтында немесе ашық тізілімде жариялайды.",
            "Каждая организация публикует годовой отчёт о своей деятельности и финансах на своём сайте или в открытом реестре.",
        ),
    ),
    (
        "6",
        heading("Мемлекеттік қолдау", "Государственная поддержка"),
        both(
            "Мемлекеттік органдар ұйымдарға гранттарды тәуелсіз комиссиялар бағалайтын ашық конкурстар арқылы бере алады.",
            "Государственные органы вправе предоставлять организациям гранты по итогам открытых конкурсов, которые оценивают независимые комиссии.",
        ),
    ),
    (
        "7",
        heading("Ұйымды тарату", "Ликвидация организации"),
        both(
            "Ұйым оның мүшелерінің шешімімен немесе сот шешімімен таратылуы мүмкін. Сот ұйымды тек жазбаша ескертуден кейін және бұзушылықты жою үшін кемінде үш ай мерзім бергеннен соң ғана тарата алады.",
            "Организация может быть ликвидирована по решению её членов или по решению суда. Суд вправе ликвидировать организацию только после письменного предупреждения и предоставления не менее трёх месяцев для устранения нарушения.",
        ),
    ),
]

# The working group's members (display names; the logins stay moderator, delegate01, ...).
CHAIR_NAME = "Әйгерім Нұрланқызы"
DELEGATE_NAMES = [
    "Асель Серікқызы",
    "Дмитрий Ковалёв",
    "Ерлан Жақсыбеков",
    "Гүлнара Әбдірахманова",
    "Мария Ким",
    "Нұрлан Оспанов",
    "Светлана Петренко",
    "Бауыржан Төлеуов",
    "Жанар Сейітова",
    "Олег Цой",
    "Дана Исмаилова",
    "Тимур Ахметов",
]


ITEMS = [
    heading("3-бап. Тіркеу", "Статья 3. Регистрация"),
    heading("4-бап. Қаржыландыру", "Статья 4. Финансирование"),
    heading("5–7-баптар. Есептілік, қолдау және тарату", "Статьи 5–7. Отчётность, поддержка и ликвидация"),
]


ADMIN_NAME = "Әкімші / Администратор"
SECRETARY_NAME = "Гүлжан Омарова"


def delegate_name(i: int) -> str:
    """The i-th delegate's display name (1-based); past the named twelve, "Делегат 13" (the word
    is the same in Kazakh and Russian)."""
    return DELEGATE_NAMES[i - 1] if i <= len(DELEGATE_NAMES) else f"Делегат {i:02d}"


async def _free_username(base: str, suffix: str) -> str:
    if not await User.exists().where(User.username == base):
        return base
    n = 2
    while await User.exists().where(User.username == f"{base}-{suffix}{n}"):
        n += 1
    return f"{base}-{suffix}{n}"


def _password() -> str:
    return secrets.token_urlsafe(9)


async def create_demo(ctx: Ctx, delegates: int = 12) -> dict[str, Any]:
    """Create the demo assembly; returns the `--json` object of `kurultai demo`."""
    actor = "demo"
    assembly = await assemblies.create_assembly(ctx, actor, title=TITLE, description=DESCRIPTION, languages=["kk", "ru", "en"], titles=TITLES, cosponsor_threshold=3, speaking_time_s=180)
    aid = assembly["id"]

    mod_name = await _free_username("moderator", "a")
    mod_pw = _password()
    mod = await accounts.create_user(ctx, mod_name, mod_pw, display_name=CHAIR_NAME, actor=actor)
    await assemblies.set_member(ctx, aid, actor, mod.username, "moderator")
    # An administrator (creates assemblies, appoints chairs and secretaries) and the assembly's
    # secretary (prepares it: draft, agenda, members, invitations), so that `make run` shows the
    # set-up pages too (issue #18).
    admin_name, admin_pw = await _free_username("admin", "a"), _password()
    await accounts.create_user(ctx, admin_name, admin_pw, is_admin=True, display_name=ADMIN_NAME, actor=actor)
    sec_name, sec_pw = await _free_username("secretary", "a"), _password()
    await accounts.create_user(ctx, sec_name, sec_pw, display_name=SECRETARY_NAME, actor=actor)
    await assemblies.set_member(ctx, aid, actor, sec_name, "secretary")
    creds = []
    users = []
    passwords = [_password() for _ in range(delegates)]
    # Hashed side by side (the pool's threads), then stored in order: 500 delegates take seconds.
    hashes: list[str] = []
    for start in range(0, delegates, 256):  # below the pool's queue bound (deliberation/passwords.py)
        hashes += await asyncio.gather(*(ctx.passwords.hash(pw) for pw in passwords[start : start + 256]))
    for i, pw, hashed in zip(range(1, delegates + 1), passwords, hashes, strict=True):
        name = await _free_username(f"delegate{i:02d}", "a")
        user = await accounts.create_user(ctx, name, None, display_name=delegate_name(i), actor=actor, password_hash=hashed)
        await assemblies.set_member(ctx, aid, actor, user.username, "delegate")
        creds.append({"username": name, "password": pw})
        users.append(user)

    pids: dict[str, int] = {}
    for number, title, text in ARTICLES:
        prov = await draft.add_provision(ctx, aid, actor, number=number, kind="article", title=title, text=text, after=None)
        pids[number] = prov["id"]

    item1 = await agenda.create_item(ctx, aid, actor, title=ITEMS[0], planned_minutes=30, provisions=[pids["3"]])
    item2 = await agenda.create_item(ctx, aid, actor, title=ITEMS[1], planned_minutes=30, provisions=[pids["4"]])
    await agenda.create_item(ctx, aid, actor, title=ITEMS[2], planned_minutes=45, provisions=[pids["5"], pids["6"], pids["7"]])
    for phase in ("debate", "amendments"):
        await agenda.set_phase(ctx, item1["id"], mod.username, phase)
    await agenda.set_phase(ctx, item2["id"], mod.username, "debate")

    def d(i: int) -> Any:
        return users[(i - 1) % len(users)] if users else mod

    shorter = await amendments.create_amendment(
        ctx,
        aid,
        d(1).id,
        d(1).username,
        provision=pids["3"],
        kind="replace",
        submit=True,
        title=heading("Он бес күн", "Пятнадцать дней"),
        text=both(
            "Ұйым тіркелген сәттен бастап заңды тұлға құқығына ие болады. Тіркеуші орган он бес жұмыс күні ішінде шешім қабылдайды және тек осы Заңда көзделген негіздер бойынша ғана тіркеуден бас тарта алады.",
            "Организация приобретает права юридического лица с момента регистрации. Регистрирующий орган принимает решение в течение пятнадцати рабочих дней и может отказать в регистрации только по основаниям, предусмотренным настоящим Законом.",
        ),
        rationale=both(
            "Жұмысты бастау үшін банк шотын ашуы керек шағын жергілікті топтар үшін отыз жұмыс күні тым ұзақ.",
            "Тридцать рабочих дней – слишком долго для небольших местных инициатив, которым для начала работы нужен банковский счёт.",
        ),
    )
    silence = await amendments.create_amendment(
        ctx,
        aid,
        d(2).id,
        d(2).username,
        provision=pids["3"],
        kind="replace",
        submit=True,
        title=heading("Үнсіз келісім бойынша тіркеу", "Регистрация по умолчанию"),
        text=both(
            "Ұйым тіркелген сәттен бастап заңды тұлға құқығына ие болады. Тіркеуші орган отыз жұмыс күні ішінде шешім қабылдайды; егер шешім мерзімінде қабылданбаса, ұйым тіркелген болып саналады.",
            "Организация приобретает права юридического лица с момента регистрации. Регистрирующий орган принимает решение в течение тридцати рабочих дней; если решение не принято в срок, организация считается зарегистрированной.",
        ),
        rationale=both("Салдары жоқ мерзім – мерзім емес.", "Срок без последствий – не срок."),
    )
    appeal = await amendments.create_amendment(
        ctx,
        aid,
        d(3).id,
        d(3).username,
        provision=pids["3"],
        kind="insert_after",
        submit=True,
        title=heading("Шағымдану", "Обжалование"),
        text=both(
            "Тіркеуден бас тарту туралы шешім себептері көрсетіле отырып жазбаша ресімделеді және оған сотқа шағым жасалуы мүмкін.",
            "Отказ в регистрации оформляется письменно с указанием причин и может быть обжалован в суде.",
        ),
        rationale=both(
            "Өтініш беруші бас тартудың себебін білуге және құқықтық қорғау құралына ие болуға тиіс.",
            "Заявитель должен знать причины отказа и иметь средство правовой защиты.",
        ),
    )
    await amendments.moderator_action(ctx, shorter["id"], mod.username, "admit")
    await amendments.moderator_action(ctx, silence["id"], mod.username, "admit")
    await amendments.create_amendment(
        ctx,
        aid,
        d(4).id,
        d(4).username,
        provision=pids["4"],
        kind="replace",
        submit=True,
        title=heading("Жылдық есептілік", "Годовая отчётность"),
        text=both(
            "Ұйымдар кез келген заңды көзден қайырмалдықтар, гранттар және мүшелік жарналар ала алады. Барлық кіріс, шығу тегіне қарамастан, жылына бір рет жария есепте көрсетіледі.",
            "Организации вправе получать пожертвования, гранты и членские взносы из любых законных источников. Все доходы, независимо от их происхождения, раз в год отражаются в публичном отчёте.",
        ),
        rationale=both(
            "Тек шетелдік қаржыландыру туралы тоқсан сайынғы есептер ешбір қоғамдық мүддесіз жекелеген ұйымдарды бөліп алып, оларға артық жүк түсіреді.",
            "Ежеквартальные отчёты только об иностранном финансировании выделяют отдельные организации и обременяют их без всякого общественного интереса.",
        ),
    )

    if len(users) >= 4:
        c1 = await comments.create_comment(
            ctx, aid, d(5).id, provision=pids["3"], amendment=None, parent=None, stance="for", text="Нақты мерзімдер өтініш берушілерді де, лауазымды адамдарды да қорғайды."
        )
        await comments.create_comment(ctx, aid, d(6).id, provision=None, amendment=None, parent=c1["id"], stance="neutral", text="А известно ли, сколько в среднем длится регистрация сегодня?")
        await comments.create_comment(
            ctx,
            aid,
            d(7).id,
            provision=None,
            amendment=silence["id"],
            parent=None,
            stance="against",
            text="Регистрация по умолчанию может пропустить организации с неполным пакетом учредительных документов.",
        )
        await comments.create_comment(
            ctx, aid, d(8).id, provision=pids["4"], amendment=None, parent=None, stance="against", text="Шетелдік қаржыландыру туралы тоқсан сайынғы есептер еріктілер жүргізетін топтар үшін ауыр жүк."
        )
        backer = d(4)  # any delegate but the appeal's author, d(3)
        await amendments.cosponsor(ctx, appeal["id"], backer.id, backer.username)

    # Voting (issue #4): the first item moves to its voting phase with a draft election on Article 3
    # (its admitted amendments and status_quo, Schulze, live). The chair opens it once the
    # delegates have registered keys and the registrar has approved them.
    from voting import elections

    await agenda.set_phase(ctx, item1["id"], mod.username, "voting")
    election = await elections.create_election(ctx, item1["id"], mod.username, {"kind": "amendments", "provision": pids["3"], "method": "schulze", "visibility": "live", "title": ITEMS[0]})

    return {
        "assembly": aid,
        "election": election["id"],
        "moderator": {"username": mod.username, "password": mod_pw},
        "admin": {"username": admin_name, "password": admin_pw},
        "secretary": {"username": sec_name, "password": sec_pw},
        "delegates": creds,
    }
