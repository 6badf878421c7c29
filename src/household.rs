//! The household agent: 18 bytes of plain integers, no heap data.
//!
//! Members present live at the residence (unit, urban/rural). Members left behind live in the
//! rural part of the household's origin and keep its rural hukou, also after the rest of the
//! household settles in a city. Every count the model reports is persons.

use crate::geo::UnitId;

pub mod flags {
    /// Lives in the urban part of its residence unit.
    pub const RES_URBAN: u8 = 1;
    /// Holds urban (non-agricultural) hukou.
    pub const HUKOU_URBAN: u8 = 1 << 1;
    /// Holds rural land contract, homestead and collective rights.
    pub const LAND_RIGHTS: u8 = 1 << 2;
    /// Owns its home at the residence.
    pub const OWNS_HOME: u8 = 1 << 3;
    /// Applied to settle this year and waits for quota admission (cleared every year).
    pub const APPLIED: u8 = 1 << 4;
    /// Became urban where it lives (town growth, reclassification) and has not moved since:
    /// not a migrant in the survey's sense.
    pub const IN_SITU: u8 = 1 << 5;
    /// Bits 6–7 hold the head's education level (see `Household::education`).
    pub const EDUCATION_SHIFT: u8 = 6;
}

/// Bits of `Household::tenure`: how a household in a city is housed (MODEL §5, plan §2.5).
pub mod tenure {
    /// Rents an affordable rental unit (保障性租赁住房) where it lives; given up on moving.
    pub const AFFORDABLE: u8 = 1;
}

/// Education levels: 0 primary or less, 1 junior secondary, 2 senior secondary, 3 tertiary.
pub const EDUCATION_LEVELS: usize = 4;
/// Household types for choice tables: education level × whether it has children.
pub const HOUSEHOLD_TYPES: usize = EDUCATION_LEVELS * 2;

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Household {
    pub res_unit: u16,
    pub hukou_unit: u16,
    pub flags: u8,
    pub head_age: u8,
    /// Working-age adults left behind at the origin (children of a split household who turned
    /// 15 there); they follow to the city after a few years.
    pub adults_left: u8,
    pub years_in_city: u8,
    pub insurance_years: u8,
    /// Working-age adults (15–64), always with the household.
    pub adults: u8,
    pub children: u8,
    pub elderly: u8,
    pub children_left: u8,
    pub elderly_left: u8,
    /// Rural home where left-behind members live (the hukou unit until the household settles).
    pub origin_unit: u16,
    /// Housing tenure bits (`tenure::*`); kept apart from `flags`, which are full.
    pub tenure: u8,
}

const _: () = assert!(std::mem::size_of::<Household>() == 18);

impl Household {
    #[inline]
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    #[inline]
    pub fn set(&mut self, flag: u8, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }

    #[inline]
    pub fn res(&self) -> UnitId {
        UnitId(self.res_unit)
    }

    #[inline]
    pub fn hukou(&self) -> UnitId {
        UnitId(self.hukou_unit)
    }

    #[inline]
    pub fn present(&self) -> u32 {
        u32::from(self.adults) + u32::from(self.children) + u32::from(self.elderly)
    }

    #[inline]
    pub fn left_behind(&self) -> u32 {
        u32::from(self.children_left) + u32::from(self.elderly_left) + u32::from(self.adults_left)
    }

    /// Head's education: 0 primary or less, 1 junior secondary, 2 senior secondary, 3 tertiary
    /// (two bits of `flags`, so the record stays small).
    #[inline]
    pub fn education(&self) -> u8 {
        self.flags >> flags::EDUCATION_SHIFT
    }

    #[inline]
    pub fn set_education(&mut self, level: u8) {
        let mask = 0b11 << flags::EDUCATION_SHIFT;
        self.flags = (self.flags & !mask) | ((level.min(3) << flags::EDUCATION_SHIFT) & mask);
    }

    #[inline]
    pub fn members(&self) -> u32 {
        self.present() + self.left_behind()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.members() == 0
    }

    /// Urban resident without local urban hukou: the people the plan wants to settle.
    #[inline]
    pub fn is_nonhukou_urban(&self) -> bool {
        self.has(flags::RES_URBAN) && (!self.has(flags::HUKOU_URBAN) || self.hukou_unit != self.res_unit)
    }

    /// Urban resident holding rural hukou (the gap between the two urbanization rates).
    #[inline]
    pub fn is_rural_hukou_urban(&self) -> bool {
        self.has(flags::RES_URBAN) && !self.has(flags::HUKOU_URBAN)
    }

    /// Index into the choice tables' household types.
    #[inline]
    pub fn household_type(&self) -> usize {
        let with_children = usize::from(self.children + self.children_left > 0);
        usize::from(self.education()) * 2 + with_children
    }

    #[inline]
    pub fn rents_affordable(&self) -> bool {
        self.tenure & tenure::AFFORDABLE != 0
    }

    #[inline]
    pub fn set_affordable(&mut self, on: bool) {
        if on {
            self.tenure |= tenure::AFFORDABLE;
        } else {
            self.tenure &= !tenure::AFFORDABLE;
        }
    }

    #[inline]
    pub fn with_children(&self) -> bool {
        self.children + self.children_left > 0
    }
}
