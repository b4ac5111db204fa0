"""Areas and categories. Area depth is data: the 2025 two-level scheme (province → commune/ward)
and the legacy three-level one (province → district → ward) live side by side, told apart by
``scheme``."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, ForeignKey, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ketnoi.db.base import Base, IdMixin, TimestampMixin

category_areas = Table(
    "category_areas",
    Base.metadata,
    Column("category_id", ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True),
    Column("area_id", ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True),
)

LEVEL_NAMES = {1: "Tỉnh/Thành phố", 2: "Quận/Huyện hoặc Xã/Phường", 3: "Xã/Phường"}


class Area(IdMixin, TimestampMixin, Base):
    __tablename__ = "areas"
    __table_args__ = (UniqueConstraint("scheme", "code", name="uq_areas_scheme_code"),)
    scheme: Mapped[str] = mapped_column(String(10), default="2025", index=True)  # 2025 | legacy
    code: Mapped[str] = mapped_column(String(10), index=True)
    name: Mapped[str] = mapped_column(String(200))
    division_type: Mapped[str] = mapped_column(String(60), default="")
    level: Mapped[int] = mapped_column(Integer)  # 1 = province; deeper levels follow the scheme
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"), nullable=True,
                                                  index=True)
    path: Mapped[str] = mapped_column(String(200), default="", index=True)  # '/<province id>/…/<own id>/'
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)  # False = retired

    parent: Mapped[Area | None] = relationship(remote_side="Area.id")


class Category(IdMixin, TimestampMixin, Base):
    """A field of reports (lĩnh vực), in a parent/child tree per organization."""

    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("organization_id", "code", name="uq_categories_org_code"),)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"), index=True)
    code: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    icon: Mapped[str] = mapped_column(String(300), default="")  # file name under data_dir/uploads/icons
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("categories.id", ondelete="RESTRICT"), nullable=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)  # False = retired

    parent: Mapped[Category | None] = relationship(remote_side="Category.id")
    areas: Mapped[list[Area]] = relationship(secondary=category_areas, order_by=Area.code)
