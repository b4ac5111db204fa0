"""The default set of report categories (CRM-23): the fields of public-service reports a hotline
usually receives, as a two-level tree an organization copies from and then adapts."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketnoi.audit.service import record
from ketnoi.catalog.models import Category
from ketnoi.catalog.service import category_organization, category_snapshot
from ketnoi.core.errors import ValidationFailed
from ketnoi.db.base import new_id
from ketnoi.identity.principal import Principal


@dataclass(frozen=True)
class DefaultCategory:
    code: str
    name: str
    description: str = ""
    children: tuple[DefaultCategory, ...] = field(default_factory=tuple)


def _c(code: str, name: str, description: str = "") -> DefaultCategory:
    return DefaultCategory(code, name, description)


DEFAULT_CATEGORIES: tuple[DefaultCategory, ...] = (
    DefaultCategory("MT", "Môi trường", "Vệ sinh môi trường, ô nhiễm, cây xanh.", (
        _c("MT-RAC", "Rác thải", "Rác thải sinh hoạt, thu gom, điểm tập kết rác."),
        _c("MT-KHONGKHI", "Ô nhiễm không khí", "Khói, bụi, mùi hôi từ cơ sở sản xuất, đốt rác."),
        _c("MT-TIENGON", "Tiếng ồn", "Tiếng ồn từ karaoke, công trình, cơ sở kinh doanh."),
        _c("MT-NUOC", "Ô nhiễm nguồn nước", "Xả thải ra sông, kênh, rạch; nước đọng, bốc mùi."),
        _c("MT-CAYXANH", "Cây xanh", "Cây đổ, cây nguy hiểm, chặt phá cây xanh."),
    )),
    DefaultCategory("GT", "Giao thông", "Hạ tầng và trật tự giao thông.", (
        _c("GT-DUONG", "Hư hỏng đường", "Ổ gà, sụt lún, hư hỏng mặt đường, cầu."),
        _c("GT-DENTINHIEU", "Đèn tín hiệu giao thông", "Đèn tín hiệu hỏng, không hoạt động, sai pha."),
        _c("GT-VIAHE", "Lấn chiếm vỉa hè, lòng đường", "Buôn bán, để xe, vật dụng lấn chiếm."),
        _c("GT-UNTAC", "Ùn tắc giao thông", "Ùn tắc kéo dài, điểm đen giao thông."),
        _c("GT-BIENBAO", "Biển báo, vạch kẻ đường", "Biển báo mất, che khuất, vạch kẻ mờ."),
        _c("GT-DAUXE", "Đậu đỗ xe sai quy định", "Xe đậu đỗ gây cản trở, trông giữ xe trái phép."),
    )),
    DefaultCategory("DT", "Đô thị – Xây dựng", "Trật tự đô thị, xây dựng, chiếu sáng công cộng.", (
        _c("DT-XAYDUNG", "Xây dựng trái phép", "Xây dựng không phép, sai phép, lấn chiếm đất công."),
        _c("DT-CHIEUSANG", "Chiếu sáng công cộng", "Đèn đường hỏng, không sáng, sáng ban ngày."),
        _c("DT-THOATNUOC", "Thoát nước, ngập úng", "Cống nghẹt, ngập úng, mất nắp hố ga."),
        _c("DT-QUANGCAO", "Quảng cáo sai quy định", "Bảng hiệu, băng rôn, tờ rơi dán trái phép."),
    )),
    DefaultCategory("DN", "Điện – Nước", "Cung cấp điện, nước sinh hoạt.", (
        _c("DN-MATDIEN", "Mất điện", "Mất điện, điện chập chờn, sự cố lưới điện."),
        _c("DN-MATNUOC", "Mất nước, nước yếu", "Mất nước sinh hoạt, áp lực nước yếu."),
        _c("DN-CHATLUONGNUOC", "Chất lượng nước", "Nước đục, có mùi, nghi nhiễm bẩn."),
        _c("DN-ONGNUOC", "Vỡ ống nước", "Vỡ đường ống cấp nước, rò rỉ."),
        _c("DN-HOADON", "Hóa đơn điện, nước", "Thắc mắc chỉ số, hóa đơn, giá điện nước."),
    )),
    DefaultCategory("ANTT", "An ninh trật tự", "An ninh, trật tự, an toàn xã hội.", (
        _c("ANTT-GAYROI", "Gây rối trật tự công cộng", "Tụ tập gây rối, đánh nhau, đua xe."),
        _c("ANTT-TRACUOP", "Trộm cắp, cướp giật", "Trộm cắp tài sản, cướp giật."),
        _c("ANTT-TENAN", "Tệ nạn xã hội", "Cờ bạc, ma túy, mại dâm."),
        _c("ANTT-LUADAO", "Lừa đảo", "Lừa đảo qua điện thoại, mạng xã hội, tín dụng đen."),
        _c("ANTT-CHAYNO", "Cháy nổ, an toàn PCCC", "Nguy cơ cháy nổ, vi phạm phòng cháy chữa cháy."),
    )),
    DefaultCategory("YT", "Y tế", "Khám chữa bệnh, an toàn thực phẩm, dịch bệnh.", (
        _c("YT-KHAMBENH", "Khám chữa bệnh", "Thái độ phục vụ, chất lượng khám chữa bệnh."),
        _c("YT-ATTP", "An toàn thực phẩm", "Thực phẩm bẩn, ngộ độc thực phẩm."),
        _c("YT-DICHBENH", "Dịch bệnh", "Ổ dịch, sốt xuất huyết, phun thuốc diệt muỗi."),
        _c("YT-BHYT", "Bảo hiểm y tế", "Thẻ bảo hiểm y tế, quyền lợi khám chữa bệnh."),
    )),
    DefaultCategory("GD", "Giáo dục", "Trường học, học phí, tuyển sinh.", (
        _c("GD-HOCPHI", "Học phí, các khoản thu", "Lạm thu, thu sai quy định."),
        _c("GD-TUYENSINH", "Tuyển sinh", "Tuyển sinh đầu cấp, chuyển trường."),
        _c("GD-COSOVATCHAT", "Cơ sở vật chất trường học", "Phòng học xuống cấp, an toàn trường học."),
        _c("GD-DAYTHEM", "Dạy thêm, học thêm", "Dạy thêm, học thêm trái quy định."),
    )),
    DefaultCategory("DD", "Đất đai", "Quản lý, sử dụng đất đai.", (
        _c("DD-GIAYCHUNGNHAN", "Cấp giấy chứng nhận", "Cấp, đổi giấy chứng nhận quyền sử dụng đất."),
        _c("DD-TRANHCHAP", "Tranh chấp đất đai", "Tranh chấp ranh giới, lối đi."),
        _c("DD-BOITHUONG", "Bồi thường, giải phóng mặt bằng", "Bồi thường, hỗ trợ, tái định cư."),
        _c("DD-LANCHIEM", "Lấn chiếm đất đai", "Lấn chiếm, sử dụng đất sai mục đích."),
    )),
    DefaultCategory("TTHC", "Thủ tục hành chính", "Giải quyết thủ tục, dịch vụ công.", (
        _c("TTHC-TREHEN", "Giải quyết trễ hẹn", "Hồ sơ quá hạn, trễ hẹn trả kết quả."),
        _c("TTHC-THAIDO", "Thái độ cán bộ", "Thái độ, tác phong, nhũng nhiễu của cán bộ."),
        _c("TTHC-DVCTT", "Dịch vụ công trực tuyến", "Lỗi, vướng mắc khi nộp hồ sơ trực tuyến."),
        _c("TTHC-HOTICH", "Hộ tịch, cư trú", "Khai sinh, kết hôn, đăng ký cư trú."),
    )),
    DefaultCategory("KHAC", "Khác", "Phản ánh chưa thuộc lĩnh vực nào ở trên.", (
        _c("KHAC-GOPY", "Góp ý, kiến nghị", "Góp ý, đề xuất với chính quyền."),
        _c("KHAC-KHENNGOI", "Khen ngợi", "Khen ngợi cán bộ, đơn vị."),
        _c("KHAC-KHAC", "Vấn đề khác", "Các vấn đề khác."),
    )),
)


def flatten() -> list[tuple[DefaultCategory, str | None]]:
    """Every default category with its parent's code, parents before their children."""
    out: list[tuple[DefaultCategory, str | None]] = []
    for parent in DEFAULT_CATEGORIES:
        out.append((parent, None))
        out.extend((child, parent.code) for child in parent.children)
    return out


def create_from_defaults(db: Session, p: Principal, codes: list[str] | None = None,
                         organization_id: str | None = None) -> tuple[list[Category], list[str]]:
    """Copy the chosen default categories (all when ``codes`` is None) into the organization. A chosen
    child brings its parent along; codes the organization already has are skipped, not overwritten."""
    flat = flatten()
    known = {d.code: parent for d, parent in flat}
    chosen = set(known) if codes is None else {c.strip().upper() for c in codes if c.strip()}
    unknown = sorted(chosen - set(known))
    if unknown:
        raise ValidationFailed.field("codes", "Mã không có trong bộ lĩnh vực mặc định: "
                                     + ", ".join(unknown[:20]))
    if not chosen:
        raise ValidationFailed.field("codes", "Chọn ít nhất một lĩnh vực trong bộ mặc định.")
    chosen |= {known[c] for c in chosen if known[c]}
    org_id = category_organization(db, p, organization_id)
    existing = {c.code.lower(): c
                for c in db.scalars(select(Category).where(Category.organization_id == org_id))}
    created: dict[str, Category] = {}
    skipped: list[str] = []
    for order, (d, parent_code) in enumerate(flat):
        if d.code not in chosen:
            continue
        if d.code.lower() in existing:
            skipped.append(d.code)
            continue
        parent = (created.get(parent_code) or existing.get(parent_code.lower())) if parent_code else None
        c = Category(id=new_id(), organization_id=org_id, code=d.code, name=d.name, description=d.description,
                     parent=parent, sort_order=(order + 1) * 10, areas=[])
        db.add(c)
        created[d.code] = c
    db.flush()
    for c in created.values():
        record(db, p, "category.created", "category", c.id, after=category_snapshot(c),
               organization_id=org_id, summary=f"Tạo lĩnh vực {c.code} – {c.name} từ bộ mặc định")
    return list(created.values()), skipped
