"""The labels of the calendar views, in English and Arabic.

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
