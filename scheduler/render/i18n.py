"""The labels of the calendar views and the HTML report, in English and Arabic.

Templates never hold a word of their own: every label comes from here, so a view in a new
language is one more table, and a test can check that every table has every key. Times
and dates keep Western digits in both languages, as the platforms' own Arabic interfaces
mostly do, so a time reads the same in the calendar and in the post.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from types import MappingProxyType

LANGS = ("en", "ar")
DIRECTION = {"en": "ltr", "ar": "rtl"}

_EN = {
    "title": "Content calendar",
    "week": "Week",
    "month": "Month",
    "window": "Window",
    "generated": "Generated",
    "times_in": "Times in",
    "channels": "Channels",
    "kinds": "Kinds",
    "attention": "Needs attention",
    "inbox_late": "Unanswered",
    "inbox": "Inbox",
    "inbox_empty": "Nothing waits for an answer.",
    "nothing_to_flag": "No gaps, failures, missed airings or unanswered replies.",
    "no_airings": "no airings",
    "now": "now",
    "gap": "gap",
    "gap_detail": "{channel} silent for {duration} (max {max_gap}) until {until}",
    "repost_of": "repost of #{post_id}",
    "original_outside": "original aired before this window",
    "pinned": "pinned",
    "local_time": "channel time",
    "error": "error",
    "open_post": "published post",
    "core": "core",
    "entertaining": "entertaining",
    "repost": "repost",
    "planned": "planned",
    "publishing": "publishing",
    "published": "published",
    "failed": "failed",
    "missed": "missed",
    "unconfirmed": "unconfirmed",
    "cancelled": "cancelled",
    # scheduler report --format html (§11)
    "r_title": "What worked",
    "r_airings": "Airings",
    "r_measured_of": "{measured} measured",
    "r_engagement_per_airing": "Engagement per airing",
    "r_total": "total {value}",
    "r_followers": "Followers",
    "r_answered": "Answered",
    "r_by_hour": "Engagement by local hour",
    "r_by_hour_note": "Median engagement of the airings in each hour of the day, {zone}",
    "r_hour_axis": "hour of day",
    "r_hour_axis_counted": "hour of day, and the airings measured in each hour",
    "r_median_axis": "median engagement",
    "r_best_hour": "Best hour: {hour} (median {median}, {airings})",
    "r_by_kind": "By kind",
    "r_row_value": "median {median} · {airings}",
    "r_reruns": "Reruns against first airings",
    "r_reruns_note": "Median engagement by the hours between a rerun and its post's first airing",
    "r_first_airing": "first airing",
    "r_rerun": "rerun",
    "r_shift": "{hours}h apart · {reruns} reruns",
    "r_shift_one": "{hours}h apart · 1 rerun",
    "r_by_tag": "By tag",
    "r_followers_trend": "Follower trend",
    "r_goal_line": "goal {target}",
    "r_projection": "projection",
    "r_change_in_window": "{change} in the window",
    "r_top": "Top posts",
    "r_bottom": "Bottom posts",
    "r_post": "post #{id}",
    "r_engagement": "engagement",
    "r_goals": "Goals",
    "r_goal_followers": "Followers",
    "r_goal_engagement_per_airing": "Engagement per airing",
    "r_goal_replies_answered": "Replies answered",
    "r_target_by": "{target} by {by}",
    "r_target_within": "{share} within {within}",
    "r_value_now": "now {value}",
    "r_needed": "needs {value}/day",
    "r_trend": "trend {value}/day",
    "r_projected": "projected {value}",
    "r_due": "{answered} of {due} due answered in time",
    "v_on_track": "on track",
    "v_behind": "behind",
    "v_unrealistic": "unrealistic at the current trend",
    "v_not_measured": "not measured",
    "r_received": "Received",
    "r_median_response": "Median response",
    "r_open": "Open",
    "r_done": "closed without an answer: {n}",
    "r_within_meter": "Answered within {within}",
    "r_goal_marker": "goal {share}",
    "r_waiting": "Waiting longest",
    "r_since": "since {when}",
    "r_inbox_not_read": "Not read: this platform can't be listened to.",
    "r_compare": "Experiment: {a} against {b}",
    "r_tag": "tag",
    "r_n": "airings",
    "r_median": "median",
    "r_mean": "mean",
    "c_not_enough": "Not enough airings to tell (at least {n} each).",
    "c_more_than_noise": "The difference is more than noise (p = {p}).",
    "c_noise": "No clear difference: it may be noise (p = {p}).",
    "r_not_measured": "Not measured: this platform's counts can't be read; feed them with "
    "scheduler metrics import.",
    "r_no_airings": "No airings in the window.",
    "r_no_measured": "No measured airings in the window.",
    "r_no_reruns": "No measured reruns in the window.",
    "r_no_followers": "Followers not measured.",
    "r_no_tags": "No tagged airings in the window.",
    "r_no_goals": "No goals set: add [channels.NAME.goals] to config.toml.",
    "r_no_inbox": "Nothing arrived in the window.",
}

_AR = {
    "title": "تقويم المحتوى",
    "week": "أسبوع",
    "month": "شهر",
    "window": "الفترة",
    "generated": "أُنشئ في",
    "times_in": "الأوقات بتوقيت",
    "channels": "القنوات",
    "kinds": "الأنواع",
    "attention": "يحتاج إلى انتباه",
    "inbox_late": "بلا رد",
    "inbox": "الوارد",
    "inbox_empty": "لا شيء ينتظر ردًا.",
    "nothing_to_flag": "لا فجوات ولا إخفاقات ولا منشورات فائتة ولا ردود تنتظر.",
    "no_airings": "لا منشورات",
    "now": "الآن",
    "gap": "فجوة",
    "gap_detail": "{channel} صامتة لمدة {duration} (الحد {max_gap}) حتى {until}",
    "repost_of": "إعادة نشر #{post_id}",
    "original_outside": "نُشر الأصل قبل هذه الفترة",
    "pinned": "موعد ثابت",
    "local_time": "توقيت القناة",
    "error": "خطأ",
    "open_post": "المنشور",
    "core": "أساسي",
    "entertaining": "ترفيهي",
    "repost": "إعادة نشر",
    "planned": "مجدول",
    "publishing": "قيد النشر",
    "published": "منشور",
    "failed": "فشل",
    "missed": "فائت",
    "unconfirmed": "غير مؤكد",
    "cancelled": "ملغى",
    # scheduler report --format html (§11)
    "r_title": "ما الذي نجح",
    "r_airings": "المنشورات",
    "r_measured_of": "{measured} مقيسة",
    "r_engagement_per_airing": "التفاعل لكل منشور",
    "r_total": "المجموع {value}",
    "r_followers": "المتابعون",
    "r_answered": "تمّ الرد",
    "r_by_hour": "التفاعل حسب الساعة المحلية",
    "r_by_hour_note": "وسيط تفاعل المنشورات في كل ساعة من اليوم، {zone}",
    "r_hour_axis": "ساعة اليوم",
    "r_hour_axis_counted": "ساعة اليوم، وعدد المنشورات المقيسة في كل ساعة",
    "r_median_axis": "وسيط التفاعل",
    "r_best_hour": "أفضل ساعة: {hour} (الوسيط {median}، {airings})",
    "r_by_kind": "حسب النوع",
    "r_row_value": "الوسيط {median} · {airings}",
    "r_reruns": "إعادات النشر مقابل النشر الأول",
    "r_reruns_note": "وسيط التفاعل حسب عدد الساعات بين إعادة النشر والنشر الأول للمنشور",
    "r_first_airing": "النشر الأول",
    "r_rerun": "إعادة النشر",
    "r_shift": "بفارق {hours} س · إعادات: {reruns}",
    "r_shift_one": "بفارق {hours} س · إعادة واحدة",
    "r_by_tag": "حسب الوسم",
    "r_followers_trend": "اتجاه المتابعين",
    "r_goal_line": "الهدف {target}",
    "r_projection": "التوقع",
    "r_change_in_window": "{change} خلال الفترة",
    "r_top": "الأفضل أداءً",
    "r_bottom": "الأضعف أداءً",
    "r_post": "المنشور #{id}",
    "r_engagement": "التفاعل",
    "r_goals": "الأهداف",
    "r_goal_followers": "المتابعون",
    "r_goal_engagement_per_airing": "التفاعل لكل منشور",
    "r_goal_replies_answered": "الردود المُجابة",
    "r_target_by": "{target} بحلول {by}",
    "r_target_within": "{share} خلال {within}",
    "r_value_now": "الآن {value}",
    "r_needed": "المطلوب {value} يوميًا",
    "r_trend": "الاتجاه {value} يوميًا",
    "r_projected": "المتوقع {value}",
    "r_due": "أُجيب في الوقت عن {answered} من {due} مستحقة",
    "v_on_track": "على المسار",
    "v_behind": "متأخر",
    "v_unrealistic": "غير واقعي بالاتجاه الحالي",
    "v_not_measured": "غير مقيس",
    "r_received": "الوارد",
    "r_median_response": "وسيط زمن الرد",
    "r_open": "مفتوحة",
    "r_done": "أُغلقت دون رد: {n}",
    "r_within_meter": "أُجيب خلال {within}",
    "r_goal_marker": "الهدف {share}",
    "r_waiting": "الأطول انتظارًا",
    "r_since": "منذ {when}",
    "r_inbox_not_read": "غير مقروء: لا يمكن الاستماع إلى هذه المنصة.",
    "r_compare": "تجربة: {a} مقابل {b}",
    "r_tag": "الوسم",
    "r_n": "المنشورات",
    "r_median": "الوسيط",
    "r_mean": "المتوسط",
    "c_not_enough": "لا تكفي المنشورات للحكم (على الأقل {n} لكل وسم).",
    "c_more_than_noise": "الفرق أكبر من مجرد تذبذب عشوائي (p = {p}).",
    "c_noise": "لا فرق واضح: قد يكون تذبذبًا عشوائيًا (p = {p}).",
    "r_not_measured": "غير مقيس: لا يمكن قراءة أرقام هذه المنصة؛ أدخلها بالأمر "
    "scheduler metrics import.",
    "r_no_airings": "لا منشورات في هذه الفترة.",
    "r_no_measured": "لا منشورات مقيسة في هذه الفترة.",
    "r_no_reruns": "لا إعادات نشر مقيسة في هذه الفترة.",
    "r_no_followers": "عدد المتابعين غير مقيس.",
    "r_no_tags": "لا منشورات موسومة في هذه الفترة.",
    "r_no_goals": "لا أهداف: أضف [channels.NAME.goals] إلى config.toml.",
    "r_no_inbox": "لم يصل شيء في هذه الفترة.",
}

# Monday first, matching date.weekday().
_WEEKDAYS = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "ar": ("الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد"),
}
_MONTHS = {
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
    "ar": (
        "يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو",
        "يوليو", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر",
    ),
}  # fmt: skip
_UNITS = {"en": ("d", "h", "m"), "ar": ("ي", "س", "د")}

CATALOGUE: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {"en": MappingProxyType(_EN), "ar": MappingProxyType(_AR)}
)


def messages(lang: str) -> Mapping[str, str]:
    """The label table of `lang`; ValueError names the languages there are."""
    try:
        return CATALOGUE[lang]
    except KeyError:
        raise ValueError(f"{lang!r} is not a supported language ({', '.join(LANGS)})") from None


def weekday_names(lang: str) -> tuple[str, ...]:
    return _WEEKDAYS[lang]


def month_name(month: int, lang: str) -> str:
    return _MONTHS[lang][month - 1]


def day_label(day: date, lang: str) -> str:
    """`Mon 24 November` / `الاثنين 24 نوفمبر`."""
    return f"{_WEEKDAYS[lang][day.weekday()]} {day.day} {month_name(day.month, lang)}"


def month_label(day: date, lang: str) -> str:
    return f"{month_name(day.month, lang)} {day.year}"


def airing_count(n: int, lang: str) -> str:
    """`1 airing`, `2 airings`; Arabic has its singular, dual and plural forms."""
    if n == 0:
        return CATALOGUE[lang]["no_airings"]
    if lang == "ar":
        if n == 1:
            return "منشور واحد"
        if n == 2:
            return "منشوران"
        return f"{n} منشورات" if 3 <= n % 100 <= 10 else f"{n} منشور"
    return f"{n} airing" if n == 1 else f"{n} airings"


def duration_label(minutes: int, lang: str) -> str:
    """`1d 2h 30m`: the largest units only, so a gap reads at a glance."""
    days, rest = divmod(max(minutes, 0), 1440)
    hours, mins = divmod(rest, 60)
    units = _UNITS[lang]
    parts = [f"{n}{u}" for n, u in zip((days, hours, mins), units, strict=True) if n]
    return " ".join(parts) or f"0{units[2]}"
