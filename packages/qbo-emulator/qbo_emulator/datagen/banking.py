"""Money moved between accounts: deposits, transfers, journal entries, credit-card and tax
payments."""

from __future__ import annotations

from .. import timefmt
from ..store import money
from .vocabulary import USD


class Banking:
    def gen_deposit(self, ct: int, ev_idx: int) -> None:
        rng = self.rng
        obj, _rec = self.new_txn("Deposit", ct)
        lines = []
        total = 0
        batch = []
        while self.undeposited and len(batch) < 40:
            batch.append(self.undeposited.popleft())
        lid = 1
        for pay_obj, pay_rec, amount in batch:
            ttype = "Payment" if pay_rec.entity == "Payment" else "SalesReceipt"
            lines.append(
                {
                    "Id": str(lid),
                    "LineNum": lid,
                    "Amount": money(amount),
                    "LinkedTxn": [{"TxnId": pay_obj["Id"], "TxnType": ttype, "TxnLineId": "0"}],
                }
            )
            lid += 1
            total += amount
            pay_obj.setdefault("LinkedTxn", []).append({"TxnId": obj["Id"], "TxnType": "Deposit"})
            pay_rec.touch(ct)
        if not lines:
            amount = rng.randint(5, 300) * 100
            role = self.pick(["other_income", "interest", "owner"])
            lines.append(
                {
                    "Id": "1",
                    "LineNum": 1,
                    "Amount": money(amount),
                    "DetailType": "DepositLineDetail",
                    "DepositLineDetail": {"AccountRef": dict(self.ref(role))},
                    "_account": role,
                }
            )
            total = amount
        obj["DepositToAccountRef"] = dict(self.acct["checking"])
        obj["TxnDate"] = timefmt.pacific_date(ct)
        obj["CurrencyRef"] = USD
        obj["TotalAmt"] = money(total)
        obj["Line"] = lines
        self.strip_private(lines)
        if len(lines) == 1 and "DepositLineDetail" in lines[0]:
            obj["PrivateNote"] = "Miscellaneous deposit"

    def gen_transfer(self, ct: int, ev_idx: int) -> None:
        obj, _rec = self.new_txn("Transfer", ct)
        a, b = ("checking", "savings") if self.rng.random() < 0.6 else ("savings", "checking")
        amount = self.rng.randint(5, 100) * 10000
        obj["FromAccountRef"] = dict(self.acct[a])
        obj["ToAccountRef"] = dict(self.acct[b])
        obj["Amount"] = money(amount)
        obj["TxnDate"] = timefmt.pacific_date(ct)
        obj["CurrencyRef"] = USD
        if self.rng.random() < 0.3:
            obj["PrivateNote"] = "Monthly sweep"

    def gen_journal_entry(self, ct: int, ev_idx: int, opening: bool = False) -> None:
        rng = self.rng
        obj, _rec = self.new_txn("JournalEntry", ct)
        if opening:
            pairs = [("checking", 2500000), ("savings", 800000), ("truck_cost", 1349500)]
            lines = []
            lid = 0
            total = 0
            for role, cents in pairs:
                lines.append(self._je_line(lid, "Debit", role, cents, "Opening balance"))
                lid += 1
                total += cents
            lines.append(self._je_line(lid, "Credit", "notes", 2500000, "Opening balance"))
            lid += 1
            lines.append(self._je_line(lid, "Credit", "obe", total - 2500000, "Opening balance"))
            obj["DocNumber"] = "OB-1"
        else:
            kind = self.pick(["dep", "accrual", "reclass"])
            cents = rng.randint(10, 800) * 100
            if kind == "dep":
                lines = [
                    self._je_line(0, "Debit", "exp_dep", cents, "Depreciation"),
                    self._je_line(1, "Credit", "truck_dep", cents, "Depreciation"),
                ]
            elif kind == "accrual":
                lines = [
                    self._je_line(0, "Debit", self.pick(self.expense_roles), cents, "Accrual"),
                    self._je_line(1, "Credit", "loan", cents, "Accrual"),
                ]
            else:
                lines = [
                    self._je_line(0, "Debit", "prepaid", cents, "Reclass"),
                    self._je_line(1, "Credit", "checking", cents, "Reclass"),
                ]
            obj["DocNumber"] = self.docnum("JournalEntry", 1)
        obj["TxnDate"] = timefmt.pacific_date(ct)
        obj["CurrencyRef"] = USD
        obj["Line"] = lines
        obj["Adjustment"] = False
        if rng.random() < 0.3:
            obj["PrivateNote"] = "Adjusting entry"

    def _je_line(self, lid: int, posting: str, role: str, cents: int, desc: str) -> dict:
        return {
            "Id": str(lid),
            "Description": desc,
            "Amount": money(cents),
            "DetailType": "JournalEntryLineDetail",
            "JournalEntryLineDetail": {"PostingType": posting, "AccountRef": dict(self.ref(role))},
        }

    def gen_cc_payment(self, ct: int, ev_idx: int) -> None:
        obj, _rec = self.new_txn("CreditCardPayment", ct)
        obj["TxnDate"] = timefmt.pacific_date(ct)
        obj["Amount"] = money(self.rng.randint(100, 3000) * 100)
        obj["BankAccountRef"] = dict(self.acct["checking"])
        obj["CreditCardAccountRef"] = dict(self.acct[self.pick(["cc", "cc2"])])
        obj["PrivateNote"] = "Card payment"
        obj["CurrencyRef"] = USD

    def gen_tax_payment(self, ct: int, ev_idx: int) -> None:
        obj, _rec = self.new_txn("TaxPayment", ct)
        amount = self.rng.randint(50, 900) * 100
        obj["PaymentDate"] = timefmt.pacific_date(ct)
        obj["PaymentAmount"] = money(amount)
        obj["PaymentAccountRef"] = dict(self.acct["checking"])
        obj["Refund"] = False
        obj["Description"] = "Sales tax payment"
