"""How our eight classes map onto BornAgain's form factors, parameter by parameter (no BornAgain import).

Our parameters (see ``shapes/``): D_y the in-plane diameter (nm; for prisms the circumscribed circle's),
aspect = D_z/D_y, xy_ratio = D_y/D_x (ellipsoid), h_ratio = H/D_z (truncated spheroid), azimuth (deg, the
in-plane rotation of anisotropic shapes). Common to all: BornAgain's particle origin is the bottom centre and
``deposit2D`` puts it on the substrate, as ours (z = 0 at the particle's base); BornAgain's beam runs along
+x, as our q_x, so our azimuth φ is ``RotationZ(radians(φ))`` of the particle. tests/test_bornagain.py
builds its particles from ``to_bornagain`` and checks the patterns against BornAgain 25 (median < 0.5 %).

The ensemble parameters are not part of a particle: fwhm is the FWHM of the number-weighted log-normal
distribution of D_y whose mode is D_y; ``lognormal_to_bornagain`` gives BornAgain's
``DistributionLogNormal(median, scale_param)`` of the same density.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

SQRT3 = math.sqrt(3.0)


@dataclass(frozen=True)
class FormFactor:
    """A BornAgain form factor: class ``name`` and constructor ``args`` (nm) in BornAgain's order, named."""

    name: str
    args: tuple[tuple[str, float], ...]

    @property
    def values(self) -> tuple[float, ...]:
        return tuple(v for _, v in self.args)

    def arg(self, key: str) -> float:
        return dict(self.args)[key]


@dataclass(frozen=True)
class Component:
    """One part of a particle: its form factor with its bottom at height ``z`` (nm) above the particle's."""

    formfactor: FormFactor
    z: float = 0.0


@dataclass(frozen=True)
class BornAgainParticle:
    """A particle as BornAgain builds it: one component (a ``Particle``) or several (a ``Compound``),
    rotated as a whole by ``RotationZ(radians(rotation_z_deg))``."""

    components: tuple[Component, ...]
    rotation_z_deg: float = 0.0


def _ff(name: str, **args: float) -> FormFactor:
    return FormFactor(name, tuple((k, float(v)) for k, v in args.items()))


def _one(formfactor: FormFactor, azimuth: float = 0.0) -> BornAgainParticle:
    return BornAgainParticle((Component(formfactor),), float(azimuth))


def capsule(D_y: float, aspect: float) -> BornAgainParticle:
    """A ``Compound``: lower hemisphere ``SpheroidalSegment(R, R, rm_top=R, rm_bottom=0)`` at z = 0,
    ``Cylinder(R, D_z − D_y)`` at z = R, upper hemisphere ``SpheroidalSegment(R, R, 0, R)`` at
    z = D_z − R; R = D_y/2, D_z = aspect·D_y (BornAgain has no capsule form factor)."""
    r, length = 0.5 * D_y, (aspect - 1.0) * D_y
    return BornAgainParticle((
        Component(_ff("SpheroidalSegment", radius_xy=r, radius_z=r, rm_top=r, rm_bottom=0.0), 0.0),
        Component(_ff("Cylinder", radius=r, height=length), r),
        Component(_ff("SpheroidalSegment", radius_xy=r, radius_z=r, rm_top=0.0, rm_bottom=r), r + length),
    ))


def spheroid(D_y: float, aspect: float) -> BornAgainParticle:
    """``Spheroid(radius_xy, radius_z)`` takes semi-axes: radius_xy = D_y/2, radius_z = D_z/2."""
    return _one(_ff("Spheroid", radius_xy=0.5 * D_y, radius_z=0.5 * aspect * D_y))


def ellipsoid(D_y: float, aspect: float, xy_ratio: float, azimuth: float = 0.0) -> BornAgainParticle:
    """``Ellipsoid(radius_x, radius_y, radius_z)``: our long in-plane axis D_y lies along y at azimuth 0,
    so radius_x = D_y/(2·xy_ratio), radius_y = D_y/2, radius_z = D_z/2."""
    return _one(_ff("Ellipsoid", radius_x=0.5 * D_y / xy_ratio, radius_y=0.5 * D_y,
                    radius_z=0.5 * aspect * D_y), azimuth)


def truncated_spheroid(D_y: float, aspect: float, h_ratio: float) -> BornAgainParticle:
    """``SpheroidalSegment(radius_xy, radius_z, rm_top, rm_bottom)`` removes heights from a full spheroid
    of semi-axes D_y/2, D_z/2: our kept height H = h_ratio·D_z is rm_top = 0, rm_bottom = D_z − H."""
    height_full = aspect * D_y
    return _one(_ff("SpheroidalSegment", radius_xy=0.5 * D_y, radius_z=0.5 * height_full, rm_top=0.0,
                    rm_bottom=(1.0 - h_ratio) * height_full))


def hemispheroid(D_y: float, aspect: float) -> BornAgainParticle:
    """Our D_z is the height, i.e. the spheroid's vertical semi-axis: ``SpheroidalSegment(D_y/2, D_z,
    rm_top=0, rm_bottom=D_z)`` (BornAgain before version 22 had it as ``HemiEllipsoid(D_y/2, D_y/2, D_z)``)."""
    height = aspect * D_y
    return _one(_ff("SpheroidalSegment", radius_xy=0.5 * D_y, radius_z=height, rm_top=0.0, rm_bottom=height))


def prism3(D_y: float, aspect: float, azimuth: float = 0.0) -> BornAgainParticle:
    """``Prism3(base_edge, height)``: ours is the circumscribed diameter, so base_edge = D_y·√3/2;
    height = D_z. Both have a vertex on +x at azimuth 0."""
    return _one(_ff("Prism3", base_edge=D_y * SQRT3 / 2.0, height=aspect * D_y), azimuth)


def prism6(D_y: float, aspect: float, azimuth: float = 0.0) -> BornAgainParticle:
    """``Prism6(base_edge, height)``: the hexagon's edge is its circumradius, base_edge = D_y/2;
    height = D_z. Both have a vertex on +x at azimuth 0."""
    return _one(_ff("Prism6", base_edge=0.5 * D_y, height=aspect * D_y), azimuth)


def cylinder(D_y: float, aspect: float) -> BornAgainParticle:
    """``Cylinder(radius, height)``: radius = D_y/2, height = D_z."""
    return _one(_ff("Cylinder", radius=0.5 * D_y, height=aspect * D_y))


#: class name → its mapping, in the model's class order
TO_BORNAGAIN: dict[str, Callable[..., BornAgainParticle]] = {
    "capsule": capsule, "spheroid": spheroid, "ellipsoid": ellipsoid,
    "truncated_spheroid": truncated_spheroid, "hemispheroid": hemispheroid,
    "prism3": prism3, "prism6": prism6, "cylinder": cylinder,
}

#: our parameters that describe one particle (the rest, fwhm and azimuth_spread, describe the ensemble)
PARTICLE_PARAMETERS: dict[str, tuple[str, ...]] = {
    "capsule": ("D_y", "aspect"), "spheroid": ("D_y", "aspect"),
    "ellipsoid": ("D_y", "aspect", "xy_ratio", "azimuth"), "truncated_spheroid": ("D_y", "aspect", "h_ratio"),
    "hemispheroid": ("D_y", "aspect"), "prism3": ("D_y", "aspect", "azimuth"),
    "prism6": ("D_y", "aspect", "azimuth"), "cylinder": ("D_y", "aspect"),
}


def to_bornagain(shape: str, params: Mapping[str, float]) -> BornAgainParticle:
    """BornAgain's particle for our class ``shape`` with ``params`` (ensemble parameters are ignored)."""
    if shape not in TO_BORNAGAIN:
        raise ValueError(f"unknown particle shape {shape!r}; known: {', '.join(TO_BORNAGAIN)}")
    names = PARTICLE_PARAMETERS[shape]
    return TO_BORNAGAIN[shape](**{n: float(params[n]) for n in names if n in params})


def from_bornagain(particle: BornAgainParticle, rel_tol: float = 1e-9) -> tuple[str, dict[str, float]]:
    """Our class and particle parameters for a BornAgain particle, where the answer is unique.

    A ``SpheroidalSegment`` cut at its equator (rm_bottom = radius_z) is our hemispheroid (not a
    truncated spheroid of h_ratio 0.5); one without a cut is our spheroid. An ``Ellipsoid`` longer
    along x than y is ours rotated by 90°. Particles that are none of our classes, or whose parameters lie
    outside our shape's limits (a segment cut below its bottom, h_ratio < 0), raise ValueError. Trained ranges
    are not checked: a prolate ``Spheroid`` is our spheroid of aspect > 1, outside the class's trained range."""
    name, params = _class_and_params(particle, rel_tol)
    from .shapes import get_shape  # the shape tables import nothing from here; imported late to keep it so

    if "azimuth" in params:  # a rotation by 300° of an ellipsoid long along x is ours at 390°: the same as 30°
        params["azimuth"] = params["azimuth"] % 360.0
    get_shape(name).check(params)
    return name, params


def _class_and_params(particle: BornAgainParticle, rel_tol: float) -> tuple[str, dict[str, float]]:
    """``from_bornagain`` before the limits are checked."""
    parts = particle.components
    rotation = particle.rotation_z_deg
    if len(parts) == 3:
        return "capsule", _capsule_params(parts, rel_tol)
    if len(parts) != 1 or parts[0].z != 0.0:
        raise ValueError("not one of our classes: a compound that is not a capsule")
    ff = parts[0].formfactor
    a = dict(ff.args)
    if ff.name == "Spheroid":
        return "spheroid", {"D_y": 2.0 * a["radius_xy"], "aspect": a["radius_z"] / a["radius_xy"]}
    if ff.name == "Cylinder":
        return "cylinder", {"D_y": 2.0 * a["radius"], "aspect": a["height"] / (2.0 * a["radius"])}
    if ff.name in ("Prism3", "Prism6"):
        d_y = 2.0 * a["base_edge"] / SQRT3 if ff.name == "Prism3" else 2.0 * a["base_edge"]
        return ff.name.lower(), {"D_y": d_y, "aspect": a["height"] / d_y, "azimuth": rotation}
    if ff.name == "Ellipsoid":
        rx, ry, rz = a["radius_x"], a["radius_y"], a["radius_z"]
        if rx > ry:
            rx, ry, rotation = ry, rx, rotation + 90.0
        return "ellipsoid", {"D_y": 2.0 * ry, "aspect": rz / ry, "xy_ratio": ry / rx, "azimuth": rotation}
    if ff.name == "SpheroidalSegment":
        return _segment_params(a, rel_tol)
    raise ValueError(f"not one of our classes: BornAgain form factor {ff.name}")


def _segment_params(a: Mapping[str, float], rel_tol: float) -> tuple[str, dict[str, float]]:
    """A SpheroidalSegment kept from its base up: spheroid, hemispheroid or truncated spheroid."""
    r, rz, top, bottom = a["radius_xy"], a["radius_z"], a["rm_top"], a["rm_bottom"]
    if top != 0.0:
        raise ValueError("not one of our classes: a spheroidal segment with its top removed")
    if bottom == 0.0:
        return "spheroid", {"D_y": 2.0 * r, "aspect": rz / r}
    if math.isclose(bottom, rz, rel_tol=rel_tol):
        return "hemispheroid", {"D_y": 2.0 * r, "aspect": rz / (2.0 * r)}
    return "truncated_spheroid", {"D_y": 2.0 * r, "aspect": rz / r, "h_ratio": 1.0 - bottom / (2.0 * rz)}


def _capsule_params(parts: tuple[Component, ...], rel_tol: float) -> dict[str, float]:
    """Check the three components against ``capsule`` and read D_y, aspect off them."""
    r = parts[0].formfactor.arg("radius_xy")
    length = parts[1].formfactor.arg("height")
    params = {"D_y": 2.0 * r, "aspect": 1.0 + length / (2.0 * r)}
    expected = capsule(**params).components
    same = all(e.formfactor.name == p.formfactor.name and math.isclose(e.z, p.z, rel_tol=rel_tol, abs_tol=1e-12)
               and all(math.isclose(x, y, rel_tol=rel_tol, abs_tol=1e-12)
                       for x, y in zip(e.formfactor.values, p.formfactor.values))
               for e, p in zip(expected, parts))
    if not same:
        raise ValueError("not one of our classes: a three-part compound that is not a capsule")
    return params


def lognormal_to_bornagain(D_y: float, fwhm: float) -> tuple[float, float]:
    """(median, scale_param) of BornAgain's ``DistributionLogNormal`` for our size distribution of mode
    D_y and full width at half maximum fwhm (nm): σ = asinh(fwhm/(2 D_y))/√(2 ln 2), median = D_y·e^{σ²}."""
    sigma = math.asinh(fwhm / (2.0 * D_y)) / math.sqrt(2.0 * math.log(2.0))
    return D_y * math.exp(sigma**2), sigma


def lognormal_from_bornagain(median: float, scale_param: float) -> tuple[float, float]:
    """(D_y, fwhm) (nm): the mode and FWHM of ``DistributionLogNormal(median, scale_param)``."""
    mode = median * math.exp(-scale_param**2)
    return mode, 2.0 * mode * math.sinh(scale_param * math.sqrt(2.0 * math.log(2.0)))


def build(particle: BornAgainParticle, material, ba):
    """The BornAgain object of ``particle`` made of ``material``, with the ``bornagain`` module passed in as
    ``ba`` (this module never imports it): a ``Particle``, or a ``Compound`` of one per component, rotated
    by ``RotationZ`` when ``rotation_z_deg`` is nonzero."""
    def one(formfactor: FormFactor):
        return ba.Particle(material, getattr(ba, formfactor.name)(*formfactor.values))

    if len(particle.components) == 1 and particle.components[0].z == 0.0:
        built = one(particle.components[0].formfactor)
    else:
        built = ba.Compound()
        for component in particle.components:
            built.addComponent(one(component.formfactor), ba.R3(0.0, 0.0, component.z))
    if particle.rotation_z_deg:
        built.rotate(ba.RotationZ(math.radians(particle.rotation_z_deg)))  # on a variable, never a temporary
    return built
