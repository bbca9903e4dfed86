"""Telegram updates in, service calls out. ``register`` wires every handler, in order."""

from __future__ import annotations

from telegram.ext import CallbackQueryHandler, ChatMemberHandler, MessageHandler, filters

from bot.runtime.context import GridApplication
from handlers import (
    bulletins,
    digests,
    exports,
    flows,
    groups,
    members,
    onboarding,
    plans,
    report_views,
    reports,
    status_updates,
    tips,
)
from handlers.buttons import unknown_button
from handlers.callbacks import (
    BriefButton,
    BriefItemButton,
    BriefPublishButton,
    InvitesPageButton,
    MembersPageButton,
    MoveButton,
    MyReportsPageButton,
    PlanCloseButton,
    PlanDraftButton,
    ReportButton,
    ReportPhotosButton,
    RevokeInviteButton,
    ScopeReportsPageButton,
    TipActionButton,
    TipDraftButton,
    TodoButton,
)
from handlers.common import guarded_button, guarded_caption_command, guarded_command
from handlers.errors import on_error


def register(app: GridApplication) -> None:
    """Order matters: PTB runs the first matching handler of a group.

    1. Declared commands, each behind its policy guard (``bot.core.policy``).
    2. Inline buttons, by payload kind, each behind its policy guard (the same table);
       anything else is stale or forged.
    3. A photo captioned with a command (/item), behind that command's policy.
    4. The bot's own membership in groups, and groups moving to a supergroup's chat id.
    5. Private messages that are not commands: the name while joining, the step of the
       conversation in progress (``handlers.flows``), a photo starting a report, else a
       pointer.
    6. Commands nobody declared.
    """
    commands = {
        "start": onboarding.start,
        "help": onboarding.help_command,
        "whoami": onboarding.whoami,
        "lang": onboarding.lang,
        "invite": members.invite,
        "invites": members.invites,
        "members": members.members,
        "disable": members.disable,
        "enable": members.enable,
        "report": reports.report_command,
        "update": status_updates.update_command,
        "cancel": flows.cancel,
        "myreports": report_views.myreports,
        "site": report_views.site,
        "reports": report_views.reports,
        "rank": digests.rank,
        "bindgroup": groups.bindgroup,
        "unbindgroup": groups.unbindgroup,
        "digest": digests.digest_now,
        "groups": groups.groups,
        "tip": tips.tip_command,
        "tips": tips.tips_command,
        "assign": tips.assign,
        "close": tips.close_command,
        "reward": tips.reward,
        "rewards": tips.rewards,
        "extend": tips.extend_command,
        "park": tips.park_command,
        "callback": tips.callback_command,
        "decline": tips.decline_command,
        "dup": tips.duplicate_command,
        "brief": bulletins.brief,
        "item": bulletins.item_command,
        "export": exports.export,
        "audit": exports.audit,
        "todo": plans.todo,
        "near": plans.near,
        "plan": plans.plan,
        "plans": plans.plans_command,
    }
    for name, callback in commands.items():
        app.add_handler(guarded_command(name, callback))

    buttons = (
        (MembersPageButton, members.members_page_pressed),
        (RevokeInviteButton, members.revoke_pressed),
        (InvitesPageButton, members.invites_page_pressed),
        (MoveButton, onboarding.move_pressed),
        (ReportButton, reports.report_pressed),
        (ReportPhotosButton, report_views.photos_pressed),
        (MyReportsPageButton, report_views.page_pressed),
        (ScopeReportsPageButton, report_views.page_pressed),
        (TipDraftButton, tips.draft_pressed),
        (TipActionButton, tips.action_pressed),
        (BriefButton, bulletins.brief_pressed),
        (TodoButton, reports.todo_pressed),
        (PlanCloseButton, plans.close_pressed),
        (PlanDraftButton, plans.draft_pressed),
        (BriefItemButton, bulletins.brief_item_pressed),
        (BriefPublishButton, bulletins.brief_publish_pressed),
    )
    for kind, pressed in buttons:
        app.add_handler(guarded_button(kind, pressed))
    app.add_handler(CallbackQueryHandler(unknown_button))

    # A photo whose caption is /item: an item written directly, with its photo.
    app.add_handler(guarded_caption_command("item", bulletins.item_command))

    app.add_handler(ChatMemberHandler(groups.membership_changed, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, groups.group_migrated))
    app.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & ~filters.COMMAND,
            onboarding.private_message,
        )
    )
    app.add_handler(
        MessageHandler(filters.UpdateType.MESSAGE & filters.COMMAND, onboarding.unknown_command)
    )
    app.add_error_handler(on_error)
